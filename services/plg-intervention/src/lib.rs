//! InterventionService: the interventions a school runs to develop as a PLG (logged, started,
//! completed or abandoned, and assessed for what they contributed), and the school's development
//! plan and reflection conversations about it.

use plg_ledger::Ledger;
use plg_proto::v1::{
    self,
    intervention_service_server::{InterventionService, InterventionServiceServer},
};
use plg_server::{Runtime, write};
use tonic::{Request, Response, Status};

pub fn server(runtime: &Runtime) -> InterventionServiceServer<Interventions> {
    InterventionServiceServer::new(Interventions {
        ledger: runtime.ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Interventions {
    ledger: Ledger,
}

#[tonic::async_trait]
impl InterventionService for Interventions {
    async fn log_intervention(
        &self,
        request: Request<v1::LogInterventionRequest>,
    ) -> Result<Response<v1::LogInterventionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn start_intervention(
        &self,
        request: Request<v1::StartInterventionRequest>,
    ) -> Result<Response<v1::StartInterventionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn complete_intervention(
        &self,
        request: Request<v1::CompleteInterventionRequest>,
    ) -> Result<Response<v1::CompleteInterventionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn abandon_intervention(
        &self,
        request: Request<v1::AbandonInterventionRequest>,
    ) -> Result<Response<v1::AbandonInterventionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn assess_contribution(
        &self,
        request: Request<v1::AssessContributionRequest>,
    ) -> Result<Response<v1::AssessContributionResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn revise_development_plan(
        &self,
        request: Request<v1::ReviseDevelopmentPlanRequest>,
    ) -> Result<Response<v1::ReviseDevelopmentPlanResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn record_reflection_conversation(
        &self,
        request: Request<v1::RecordReflectionConversationRequest>,
    ) -> Result<Response<v1::RecordReflectionConversationResponse>, Status> {
        write(&self.ledger, request).await
    }
}
