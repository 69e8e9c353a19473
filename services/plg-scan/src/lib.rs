//! ScanService: staff's answers to the Scan School als PLG. A respondent's answers for a wave
//! form one response stream; a resubmission supersedes the earlier one, and the history keeps both.
//! A respondent may withdraw consent (one consent stream per respondent in a study at a
//! school): none of their scans counts any more and no new one is accepted. A whole wave can
//! be imported in one streaming call, each scan written as SubmitScan writes it.

use plg_ledger::Ledger;
use plg_proto::v1::{
    self,
    scan_service_server::{ScanService, ScanServiceServer},
};
use plg_server::{
    Runtime,
    streams::{ReplyStream, Streams},
    write, write_each,
};
use tonic::{Request, Response, Status, Streaming};

pub fn server(runtime: &Runtime) -> ScanServiceServer<Scans> {
    ScanServiceServer::new(Scans {
        ledger: runtime.ledger.clone(),
        streams: runtime.streams.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Scans {
    ledger: Ledger,
    /// Bounds the imports of each key.
    streams: Streams,
}

#[tonic::async_trait]
impl ScanService for Scans {
    async fn submit_scan(
        &self,
        request: Request<v1::SubmitScanRequest>,
    ) -> Result<Response<v1::SubmitScanResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn retract_scan(
        &self,
        request: Request<v1::RetractScanRequest>,
    ) -> Result<Response<v1::RetractScanResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn withdraw_consent(
        &self,
        request: Request<v1::WithdrawConsentRequest>,
    ) -> Result<Response<v1::WithdrawConsentResponse>, Status> {
        write(&self.ledger, request).await
    }

    type ImportScansStream = ReplyStream<v1::ImportScansResponse>;

    async fn import_scans(
        &self,
        request: Request<Streaming<v1::ImportScansRequest>>,
    ) -> Result<Response<Self::ImportScansStream>, Status> {
        write_each(&self.ledger, &self.streams, request).await
    }
}
