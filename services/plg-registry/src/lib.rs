//! RegistryService: the schools, studies (waves and instruments), enrolments and people every
//! other service relies on.

use plg_contract::{instrument_to_proto, parse::Violations};
use plg_domain::{
    ids::StudyId,
    instrument::{BUILT_IN_VERSION, Instrument},
    study::Study,
    values::InstrumentVersion,
};
use plg_ledger::{Ledger, ServiceError};
use plg_proto::v1::{
    self,
    registry_service_server::{RegistryService, RegistryServiceServer},
};
use plg_server::{Runtime, read, write};
use tonic::{Request, Response, Status};

pub fn server(runtime: &Runtime) -> RegistryServiceServer<Registry> {
    RegistryServiceServer::new(Registry {
        ledger: runtime.ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Registry {
    ledger: Ledger,
}

#[tonic::async_trait]
impl RegistryService for Registry {
    async fn register_school(
        &self,
        request: Request<v1::RegisterSchoolRequest>,
    ) -> Result<Response<v1::RegisterSchoolResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn define_study(
        &self,
        request: Request<v1::DefineStudyRequest>,
    ) -> Result<Response<v1::DefineStudyResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn register_instrument(
        &self,
        request: Request<v1::RegisterInstrumentRequest>,
    ) -> Result<Response<v1::RegisterInstrumentResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn enrol_school(
        &self,
        request: Request<v1::EnrolSchoolRequest>,
    ) -> Result<Response<v1::EnrolSchoolResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn release_wave(
        &self,
        request: Request<v1::ReleaseWaveRequest>,
    ) -> Result<Response<v1::ReleaseWaveResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn register_person(
        &self,
        request: Request<v1::RegisterPersonRequest>,
    ) -> Result<Response<v1::RegisterPersonResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn erase_personal_data(
        &self,
        request: Request<v1::ErasePersonalDataRequest>,
    ) -> Result<Response<v1::ErasePersonalDataResponse>, Status> {
        write(&self.ledger, request).await
    }

    async fn get_instrument(
        &self,
        request: Request<v1::GetInstrumentRequest>,
    ) -> Result<Response<v1::GetInstrumentResponse>, Status> {
        read(async {
            let message = request.into_inner();
            if message.study_id.trim().is_empty() {
                if !message.version.trim().is_empty() && message.version.trim() != BUILT_IN_VERSION
                {
                    return Err(ServiceError::invalid(
                        "version",
                        "without a study only the built-in version exists",
                    ));
                }
                return Ok(instrument_to_proto(&Instrument::built_in()));
            }
            let mut violations = Violations::default();
            let study_id = violations.required("study_id", &message.study_id, StudyId::parse);
            let version =
                violations.optional("version", &message.version, InstrumentVersion::parse);
            let (study_id, version) = violations.finish(|| Some((study_id?, version?)))?;
            let study = self.ledger.require::<Study>("study", study_id).await?;
            // Like a scan naming an unknown version: the caller named something the study lacks.
            let instrument = study.instrument(version.as_ref()).ok_or_else(|| {
                ServiceError::invalid(
                    "version",
                    format!("study {study_id} has no such instrument version"),
                )
            })?;
            Ok(instrument_to_proto(instrument))
        })
        .await
    }
}
