//! SessionService: PLGs and cross-school VLGs, their members, the phases they reach and the
//! sessions they hold.

use plg_ledger::Ledger;
use plg_proto::v1::{
    self,
    session_service_server::{SessionService, SessionServiceServer},
};
use plg_server::{Runtime, write};
use tonic::{Request, Response, Status};

pub fn server(runtime: &Runtime) -> SessionServiceServer<Sessions> {
    SessionServiceServer::new(Sessions {
        ledger: runtime.ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Sessions {
    ledger: Ledger,
}

#[tonic::async_trait]
impl SessionService for Sessions {
    async fn form_plg(
        &self,
        request: Request<v1::FormPlgRequest>,
    ) -> Result<Response<v1::FormPlgResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn refine_learning_question(
        &self,
        request: Request<v1::RefineLearningQuestionRequest>,
    ) -> Result<Response<v1::RefineLearningQuestionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn add_member(
        &self,
        request: Request<v1::AddMemberRequest>,
    ) -> Result<Response<v1::AddMemberResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn remove_member(
        &self,
        request: Request<v1::RemoveMemberRequest>,
    ) -> Result<Response<v1::RemoveMemberResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn record_phase(
        &self,
        request: Request<v1::RecordPhaseRequest>,
    ) -> Result<Response<v1::RecordPhaseResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn hold_session(
        &self,
        request: Request<v1::HoldSessionRequest>,
    ) -> Result<Response<v1::HoldSessionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn dissolve_plg(
        &self,
        request: Request<v1::DissolvePlgRequest>,
    ) -> Result<Response<v1::DissolvePlgResponse>, Status> {
        write(&self.ledger, request).await
    }
}
