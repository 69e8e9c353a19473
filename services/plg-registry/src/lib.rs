//! RegistryService: the schools, studies (waves and instruments), enrolments and people every
//! other service relies on.

use std::collections::BTreeSet;

use plg_domain::{
    ids::{PersonId, SchoolId, StudyId},
    instrument::{Instrument, InstrumentItem},
    person::{Person, PersonCommand, PersonDetails, PersonEvent, RegisterPerson},
    school::{RegisterSchool, School, SchoolEvent},
    study::{Confidentiality, MinGroupSize, Study, StudyCommand, StudyEvent, Wave},
    values::{
        Country, Email, InstrumentVersion, ItemCode, Label, Personal, SchoolCode, Sector, Text,
        WaveLabel,
    },
};
use plg_proto::v1::{
    self,
    registry_service_server::{RegistryService, RegistryServiceServer},
};
use plg_runtime::{
    Ledger, ServiceError, Subject, Target, WriteContext,
    parse::{self, Violations, enumeration},
};
use tonic::{Request, Response, Status};

pub fn server(ledger: &Ledger) -> RegistryServiceServer<Registry> {
    RegistryServiceServer::new(Registry {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Registry {
    ledger: Ledger,
}

fn country(value: i32) -> Result<Country, plg_domain::ValueError> {
    enumeration(value, |country: v1::Country| match country {
        v1::Country::Unspecified => None,
        v1::Country::Nl => Some(Country::Netherlands),
        v1::Country::Be => Some(Country::Belgium),
    })
}

fn sector(value: i32) -> Result<Sector, plg_domain::ValueError> {
    enumeration(value, |sector: v1::Sector| match sector {
        v1::Sector::Unspecified => None,
        v1::Sector::Primary => Some(Sector::Primary),
        v1::Sector::Secondary => Some(Sector::Secondary),
    })
}

fn study_id(violations: &mut Violations, value: &str) -> Option<StudyId> {
    violations.required("study_id", value, StudyId::parse)
}

fn instrument_to_proto(instrument: &Instrument) -> v1::GetInstrumentResponse {
    v1::GetInstrumentResponse {
        version: instrument.version.to_string(),
        items: instrument
            .items
            .iter()
            .map(|item| v1::InstrumentItem {
                code: item.code.to_string(),
                dimension: parse::dimension_to_proto(item.dimension),
                text: item.text.to_string(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl RegistryService for Registry {
    async fn register_school(
        &self,
        request: Request<v1::RegisterSchoolRequest>,
    ) -> Result<Response<v1::RegisterSchoolResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<School>(&context, async {
                let mut violations = Violations::default();
                let name = violations.required("name", &message.name, Label::parse);
                let country = violations.check("country", country(message.country));
                let sector = violations.check("sector", sector(message.sector));
                let board = violations.optional("board", &message.board, Label::parse);
                // Its format depends on the country; without one, only its absence can be told.
                let school_code = match country {
                    Some(country) => {
                        violations.required("school_code", &message.school_code, |code| {
                            SchoolCode::parse(country, code)
                        })
                    }
                    None => {
                        if message.school_code.trim().is_empty() {
                            violations.add("school_code", "is required");
                        }
                        None
                    }
                };
                let (Some(name), Some(country), Some(sector), Some(board), Some(school_code)) =
                    (name, country, sector, board, school_code)
                else {
                    return Err(violations.into_error());
                };
                let school_id = SchoolId::derive(country, &school_code);
                Ok(Target::new(
                    school_id,
                    Subject::Registry,
                    RegisterSchool {
                        school_id,
                        name,
                        country,
                        sector,
                        school_code,
                        board,
                    },
                ))
            })
            .await?;
        let SchoolEvent::SchoolRegistered { school_id, .. } = written.first()?;
        Ok(Response::new(v1::RegisterSchoolResponse {
            school_id: school_id.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn define_study(
        &self,
        request: Request<v1::DefineStudyRequest>,
    ) -> Result<Response<v1::DefineStudyResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Study>(&context, async {
                let mut violations = Violations::default();
                let title = violations.required("title", &message.title, Label::parse);
                let description =
                    violations.optional("description", &message.description, Text::parse);
                if message.waves.is_empty() {
                    violations.add("waves", "a study needs at least one wave");
                }
                let mut labels = BTreeSet::new();
                let waves = violations.each("waves", &message.waves, |violations, field, wave| {
                    let label = violations.required(
                        &format!("{field}.label"),
                        &wave.label,
                        WaveLabel::parse,
                    );
                    let opens_on = violations.required(
                        &format!("{field}.opens_on"),
                        &wave.opens_on,
                        parse::date,
                    );
                    let closes_on = violations.required(
                        &format!("{field}.closes_on"),
                        &wave.closes_on,
                        parse::date,
                    );
                    if let Some(label) = &label {
                        violations.first_time(&mut labels, "waves", label, || {
                            format!("wave label {label} appears more than once")
                        });
                    }
                    let (opens_on, closes_on) = (opens_on?, closes_on?);
                    let window = Wave::check_window(opens_on, closes_on);
                    violations.check(format!("{field}.closes_on"), window)?;
                    violations.check(
                        format!("{field}.closes_on"),
                        Wave::new(label?, opens_on, closes_on),
                    )
                });
                let min_group_size = message
                    .min_group_size
                    .map_or(Ok(MinGroupSize::DEFAULT), MinGroupSize::new);
                let min_group_size = violations.check("min_group_size", min_group_size);
                let (Some(title), Some(description), Some(waves), Some(min_group_size), true) = (
                    title,
                    description,
                    waves,
                    min_group_size,
                    violations.is_empty(),
                ) else {
                    return Err(violations.into_error());
                };
                let study_id = StudyId::new_random();
                let confidentiality = Confidentiality {
                    min_group_size,
                    identify_schools: message.identify_schools,
                };
                Ok(Target::new(
                    study_id,
                    Subject::Registry,
                    StudyCommand::Define {
                        study_id,
                        title,
                        description,
                        waves,
                        confidentiality,
                    },
                ))
            })
            .await?;
        let StudyEvent::StudyDefined {
            study_id,
            instrument,
            ..
        } = written.first()?
        else {
            return Err(ServiceError::unexpected(&written.outcome.stream, "StudyDefined").into());
        };
        Ok(Response::new(v1::DefineStudyResponse {
            study_id: study_id.to_string(),
            instrument_version: instrument.version.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn register_instrument(
        &self,
        request: Request<v1::RegisterInstrumentRequest>,
    ) -> Result<Response<v1::RegisterInstrumentResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Study>(&context, async {
                let mut violations = Violations::default();
                let study_id = study_id(&mut violations, &message.study_id);
                let version =
                    violations.required("version", &message.version, InstrumentVersion::parse);
                let items = violations.each("items", &message.items, |violations, field, item| {
                    let code =
                        violations.required(&format!("{field}.code"), &item.code, ItemCode::parse);
                    let dimension = violations.check(
                        format!("{field}.dimension"),
                        parse::dimension(item.dimension),
                    );
                    let text =
                        violations.required(&format!("{field}.text"), &item.text, Text::parse);
                    Some(InstrumentItem {
                        code: code?,
                        dimension: dimension?,
                        text: text?,
                    })
                });
                let (Some(study_id), Some(version), Some(items)) = (study_id, version, items)
                else {
                    return Err(violations.into_error());
                };
                let instrument = Instrument::new(version, items)?;
                Ok(Target::new(
                    study_id,
                    Subject::schools([]).in_study(study_id),
                    StudyCommand::RegisterInstrument(instrument),
                ))
            })
            .await?;
        Ok(Response::new(v1::RegisterInstrumentResponse {
            result: Some(written.result()),
        }))
    }

    async fn enrol_school(
        &self,
        request: Request<v1::EnrolSchoolRequest>,
    ) -> Result<Response<v1::EnrolSchoolResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Study>(&context, async {
                let mut violations = Violations::default();
                let study_id = study_id(&mut violations, &message.study_id);
                let school_id =
                    violations.required("school_id", &message.school_id, SchoolId::parse);
                let (Some(study_id), Some(school_id)) = (study_id, school_id) else {
                    return Err(violations.into_error());
                };
                let enrolment = Subject::Enrolment {
                    school: school_id,
                    study: study_id,
                };
                let subject = self.ledger.authorized(&context, enrolment).await?;
                self.ledger
                    .require_all::<School, _>("school", [school_id])
                    .await?;
                Ok(Target::new(
                    study_id,
                    subject,
                    StudyCommand::EnrolSchool { school_id },
                ))
            })
            .await?;
        Ok(Response::new(v1::EnrolSchoolResponse {
            result: Some(written.result()),
        }))
    }

    async fn release_wave(
        &self,
        request: Request<v1::ReleaseWaveRequest>,
    ) -> Result<Response<v1::ReleaseWaveResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Study>(&context, async {
                let mut violations = Violations::default();
                let study_id = study_id(&mut violations, &message.study_id);
                let wave = violations.required("wave", &message.wave, WaveLabel::parse);
                let (Some(study_id), Some(wave)) = (study_id, wave) else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    study_id,
                    Subject::schools([]).in_study(study_id),
                    StudyCommand::ReleaseWave {
                        wave,
                        released_on: context.today(),
                    },
                ))
            })
            .await?;
        Ok(Response::new(v1::ReleaseWaveResponse {
            result: Some(written.result()),
        }))
    }

    async fn register_person(
        &self,
        request: Request<v1::RegisterPersonRequest>,
    ) -> Result<Response<v1::RegisterPersonResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Person>(&context, async {
                let mut violations = Violations::default();
                let name = violations.required("name", &message.name, Label::parse);
                let email = violations.optional("email", &message.email, Email::parse);
                let (Some(name), Some(email)) = (name, email) else {
                    return Err(violations.into_error());
                };
                let person_id = PersonId::new_random();
                Ok(Target::new(
                    person_id,
                    Subject::Anyone,
                    PersonCommand::Register(RegisterPerson {
                        person_id,
                        details: Personal::new(PersonDetails { name, email }),
                    }),
                ))
            })
            .await?;
        let PersonEvent::PersonRegistered { person_id, .. } = written.first()? else {
            return Err(
                ServiceError::unexpected(&written.outcome.stream, "PersonRegistered").into(),
            );
        };
        Ok(Response::new(v1::RegisterPersonResponse {
            person_id: person_id.to_string(),
            result: Some(written.result()),
        }))
    }

    async fn erase_personal_data(
        &self,
        request: Request<v1::ErasePersonalDataRequest>,
    ) -> Result<Response<v1::ErasePersonalDataResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Person>(&context, async {
                let mut violations = Violations::default();
                let Some(person_id) =
                    violations.required("person_id", &message.person_id, PersonId::parse)
                else {
                    return Err(violations.into_error());
                };
                // People belong to no school: erasure is for unrestricted administrators.
                Ok(Target::new(
                    person_id,
                    Subject::Registry,
                    PersonCommand::ErasePersonalData,
                ))
            })
            .await?;
        // The ledger destroyed the key right after recording the erasure.
        Ok(Response::new(v1::ErasePersonalDataResponse {
            result: Some(written.result()),
        }))
    }

    async fn get_instrument(
        &self,
        request: Request<v1::GetInstrumentRequest>,
    ) -> Result<Response<v1::GetInstrumentResponse>, Status> {
        let message = request.into_inner();
        if message.study_id.trim().is_empty() {
            if !message.version.trim().is_empty()
                && message.version.trim() != plg_domain::instrument::BUILT_IN_VERSION
            {
                return Err(ServiceError::invalid(
                    "version",
                    "without a study only the built-in version exists",
                )
                .into());
            }
            return Ok(Response::new(instrument_to_proto(&Instrument::built_in())));
        }
        let mut violations = Violations::default();
        let study_id = study_id(&mut violations, &message.study_id);
        let version = violations.optional("version", &message.version, InstrumentVersion::parse);
        let (Some(study_id), Some(version)) = (study_id, version) else {
            return Err(violations.into_error().into());
        };
        let study = self.ledger.require::<Study>("study", study_id).await?;
        // Like a scan naming an unknown version: the caller named something the study lacks.
        let instrument = study.instrument(version.as_ref()).ok_or_else(|| {
            ServiceError::invalid(
                "version",
                format!("study {study_id} has no such instrument version"),
            )
        })?;
        Ok(Response::new(instrument_to_proto(instrument)))
    }
}
