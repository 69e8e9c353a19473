//! AdminService: operators issue, re-scope and revoke API keys. Each change is an event in
//! the key's own stream, so who gave whom access, and when, is part of the audited log.

use plg_contract::{api_key_info, issue_api_key_reply, parse_issue_api_key};
use plg_ledger::Ledger;
use plg_proto::v1::{
    self,
    admin_service_server::{AdminService, AdminServiceServer},
};
use plg_server::{Runtime, caller_of, command_context, read, status, write};
use tonic::{Request, Response, Status};

pub fn server(runtime: &Runtime) -> AdminServiceServer<Admin> {
    AdminServiceServer::new(Admin {
        ledger: runtime.ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Admin {
    ledger: Ledger,
}

#[tonic::async_trait]
impl AdminService for Admin {
    /// Not a plain write: the ledger draws the key, and only a first issue shows its token.
    async fn issue_api_key(
        &self,
        request: Request<v1::IssueApiKeyRequest>,
    ) -> Result<Response<v1::IssueApiKeyResponse>, Status> {
        let (context, message) = command_context(request).map_err(status)?;
        let issued = self
            .ledger
            .issue_api_key(&context, parse_issue_api_key(message))
            .await
            .map_err(status)?;
        issue_api_key_reply(issued)
            .map(Response::new)
            .map_err(status)
    }

    async fn change_api_key_scope(
        &self,
        request: Request<v1::ChangeApiKeyScopeRequest>,
    ) -> Result<Response<v1::ChangeApiKeyScopeResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn revoke_api_key(
        &self,
        request: Request<v1::RevokeApiKeyRequest>,
    ) -> Result<Response<v1::RevokeApiKeyResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn list_api_keys(
        &self,
        request: Request<v1::ListApiKeysRequest>,
    ) -> Result<Response<v1::ListApiKeysResponse>, Status> {
        read(async {
            // Every key's identity and scope: fail closed should the layer be missing.
            caller_of(&request)?;
            let keys = self.ledger.api_keys().await?;
            Ok(v1::ListApiKeysResponse {
                keys: keys.into_iter().map(api_key_info).collect(),
            })
        })
        .await
    }
}
