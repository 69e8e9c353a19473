//! CoachingService: the process coach of a PLG, assigned once and then handed over from coach
//! to coach.

use plg_ledger::Ledger;
use plg_proto::v1::{
    self,
    coaching_service_server::{CoachingService, CoachingServiceServer},
};
use plg_server::{Runtime, write};
use tonic::{Request, Response, Status};

pub fn server(runtime: &Runtime) -> CoachingServiceServer<Coaching> {
    CoachingServiceServer::new(Coaching {
        ledger: runtime.ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Coaching {
    ledger: Ledger,
}

#[tonic::async_trait]
impl CoachingService for Coaching {
    async fn assign_coach(
        &self,
        request: Request<v1::AssignCoachRequest>,
    ) -> Result<Response<v1::AssignCoachResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn hand_over_coaching(
        &self,
        request: Request<v1::HandOverCoachingRequest>,
    ) -> Result<Response<v1::HandOverCoachingResponse>, Status> {
        write(&self.ledger, request).await
    }
}
