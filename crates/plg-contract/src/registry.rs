//! RegistryService's requests and replies.

use std::collections::BTreeSet;

use plg_domain::{
    ValueError,
    ids::{PersonId, SchoolId, StudyId},
    instrument::{Instrument, InstrumentItem},
    person::{PersonDetails, PersonEvent},
    school::SchoolEvent,
    study::{Confidentiality, MinGroupSize, StudyEvent, Wave},
    values::{
        Country, Email, InstrumentVersion, ItemCode, Label, Personal, SchoolCode, Sector, Text,
        WaveLabel,
    },
};
use plg_ledger::{
    CommandContext, ServiceError, Written,
    commands::registry::{
        DefineStudy, EnrolSchool, ErasePersonalData, RegisterInstrument, RegisterPerson,
        RegisterSchool, ReleaseWave,
    },
};
use plg_proto::v1;

use crate::{
    IntoCommand,
    parse::{self, Violations, enumeration},
    write_result,
};

fn country(value: i32) -> Result<Country, ValueError> {
    enumeration(value, |country: v1::Country| match country {
        v1::Country::Unspecified => None,
        v1::Country::Nl => Some(Country::Netherlands),
        v1::Country::Be => Some(Country::Belgium),
    })
}

fn sector(value: i32) -> Result<Sector, ValueError> {
    enumeration(value, |sector: v1::Sector| match sector {
        v1::Sector::Unspecified => None,
        v1::Sector::Primary => Some(Sector::Primary),
        v1::Sector::Secondary => Some(Sector::Secondary),
    })
}

fn study_id(violations: &mut Violations, value: &str) -> Option<StudyId> {
    violations.required("study_id", value, StudyId::parse)
}

/// A study's waves: at least one, each label once, each window open before it closes.
fn waves(violations: &mut Violations, waves: &[v1::Wave]) -> Option<Vec<Wave>> {
    if waves.is_empty() {
        violations.add("waves", "a study needs at least one wave");
    }
    let mut labels = BTreeSet::new();
    violations.each("waves", waves, |violations, field, wave| {
        let label = violations.required(&format!("{field}.label"), &wave.label, WaveLabel::parse);
        let opens_on =
            violations.required(&format!("{field}.opens_on"), &wave.opens_on, parse::date);
        let closes_on =
            violations.required(&format!("{field}.closes_on"), &wave.closes_on, parse::date);
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
    })
}

/// An instrument's items, each complete (whether there are any, and their codes unique, the
/// instrument checks).
fn items(violations: &mut Violations, items: &[v1::InstrumentItem]) -> Option<Vec<InstrumentItem>> {
    violations.each("items", items, |violations, field, item| {
        let code = violations.required(&format!("{field}.code"), &item.code, ItemCode::parse);
        let dimension = violations.check(
            format!("{field}.dimension"),
            parse::dimension(item.dimension),
        );
        let text = violations.required(&format!("{field}.text"), &item.text, Text::parse);
        Some(InstrumentItem {
            code: code?,
            dimension: dimension?,
            text: text?,
        })
    })
}

/// An instrument as GetInstrument answers it.
pub fn instrument_to_proto(instrument: &Instrument) -> v1::GetInstrumentResponse {
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

impl IntoCommand for v1::RegisterSchoolRequest {
    type Command = RegisterSchool;
    type Reply = v1::RegisterSchoolResponse;

    fn into_command(self, _: &CommandContext) -> Result<RegisterSchool, ServiceError> {
        let mut violations = Violations::default();
        let name = violations.required("name", &self.name, Label::parse);
        let country = violations.check("country", country(self.country));
        let sector = violations.check("sector", sector(self.sector));
        let board = violations.optional("board", &self.board, Label::parse);
        // Its format depends on the country; without one, only its absence can be told.
        let school_code = match country {
            Some(country) => violations.required("school_code", &self.school_code, |code| {
                SchoolCode::parse(country, code)
            }),
            None => {
                if self.school_code.trim().is_empty() {
                    violations.add("school_code", "is required");
                }
                None
            }
        };
        violations.finish(|| {
            Some(RegisterSchool {
                name: name?,
                country: country?,
                sector: sector?,
                school_code: school_code?,
                board: board?,
            })
        })
    }

    fn reply(written: Written<SchoolEvent>) -> Result<v1::RegisterSchoolResponse, ServiceError> {
        let SchoolEvent::SchoolRegistered { school_id, .. } = written.first()?;
        Ok(v1::RegisterSchoolResponse {
            school_id: school_id.to_string(),
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::DefineStudyRequest {
    type Command = DefineStudy;
    type Reply = v1::DefineStudyResponse;

    fn into_command(self, _: &CommandContext) -> Result<DefineStudy, ServiceError> {
        let mut violations = Violations::default();
        let title = violations.required("title", &self.title, Label::parse);
        let description = violations.optional("description", &self.description, Text::parse);
        let waves = waves(&mut violations, &self.waves);
        let min_group_size = self
            .min_group_size
            .map_or(Ok(MinGroupSize::DEFAULT), MinGroupSize::new);
        let min_group_size = violations.check("min_group_size", min_group_size);
        violations.finish(|| {
            Some(DefineStudy {
                study_id: StudyId::new_random(),
                title: title?,
                description: description?,
                waves: waves?,
                confidentiality: Confidentiality {
                    min_group_size: min_group_size?,
                    identify_schools: self.identify_schools,
                },
            })
        })
    }

    fn reply(written: Written<StudyEvent>) -> Result<v1::DefineStudyResponse, ServiceError> {
        let StudyEvent::StudyDefined {
            study_id,
            instrument,
            ..
        } = written.first()?
        else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "StudyDefined",
            ));
        };
        Ok(v1::DefineStudyResponse {
            study_id: study_id.to_string(),
            instrument_version: instrument.version.to_string(),
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RegisterInstrumentRequest {
    type Command = RegisterInstrument;
    type Reply = v1::RegisterInstrumentResponse;

    fn into_command(self, _: &CommandContext) -> Result<RegisterInstrument, ServiceError> {
        let mut violations = Violations::default();
        let study_id = study_id(&mut violations, &self.study_id);
        let version = violations.required("version", &self.version, InstrumentVersion::parse);
        let items = items(&mut violations, &self.items);
        let (study_id, version, items) =
            violations.finish(|| Some((study_id?, version?, items?)))?;
        Ok(RegisterInstrument {
            study_id,
            instrument: Instrument::new(version, items)?,
        })
    }

    fn reply(written: Written<StudyEvent>) -> Result<v1::RegisterInstrumentResponse, ServiceError> {
        Ok(v1::RegisterInstrumentResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::EnrolSchoolRequest {
    type Command = EnrolSchool;
    type Reply = v1::EnrolSchoolResponse;

    fn into_command(self, _: &CommandContext) -> Result<EnrolSchool, ServiceError> {
        let mut violations = Violations::default();
        let study_id = study_id(&mut violations, &self.study_id);
        let school_id = violations.required("school_id", &self.school_id, SchoolId::parse);
        violations.finish(|| {
            Some(EnrolSchool {
                study_id: study_id?,
                school_id: school_id?,
            })
        })
    }

    fn reply(written: Written<StudyEvent>) -> Result<v1::EnrolSchoolResponse, ServiceError> {
        Ok(v1::EnrolSchoolResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::ReleaseWaveRequest {
    type Command = ReleaseWave;
    type Reply = v1::ReleaseWaveResponse;

    fn into_command(self, _: &CommandContext) -> Result<ReleaseWave, ServiceError> {
        let mut violations = Violations::default();
        let study_id = study_id(&mut violations, &self.study_id);
        let wave = violations.required("wave", &self.wave, WaveLabel::parse);
        violations.finish(|| {
            Some(ReleaseWave {
                study_id: study_id?,
                wave: wave?,
            })
        })
    }

    fn reply(written: Written<StudyEvent>) -> Result<v1::ReleaseWaveResponse, ServiceError> {
        Ok(v1::ReleaseWaveResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::RegisterPersonRequest {
    type Command = RegisterPerson;
    type Reply = v1::RegisterPersonResponse;

    fn into_command(self, _: &CommandContext) -> Result<RegisterPerson, ServiceError> {
        let mut violations = Violations::default();
        let name = violations.required("name", &self.name, Label::parse);
        let email = violations.optional("email", &self.email, Email::parse);
        violations.finish(|| {
            Some(RegisterPerson {
                person_id: PersonId::new_random(),
                details: Personal::new(PersonDetails {
                    name: name?,
                    email: email?,
                }),
            })
        })
    }

    fn reply(written: Written<PersonEvent>) -> Result<v1::RegisterPersonResponse, ServiceError> {
        let PersonEvent::PersonRegistered { person_id, .. } = written.first()? else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "PersonRegistered",
            ));
        };
        Ok(v1::RegisterPersonResponse {
            person_id: person_id.to_string(),
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::ErasePersonalDataRequest {
    type Command = ErasePersonalData;
    type Reply = v1::ErasePersonalDataResponse;

    fn into_command(self, _: &CommandContext) -> Result<ErasePersonalData, ServiceError> {
        let mut violations = Violations::default();
        let person_id = violations.required("person_id", &self.person_id, PersonId::parse);
        violations.finish(|| {
            Some(ErasePersonalData {
                person_id: person_id?,
            })
        })
    }

    /// The ledger destroyed the key right after recording the erasure.
    fn reply(written: Written<PersonEvent>) -> Result<v1::ErasePersonalDataResponse, ServiceError> {
        Ok(v1::ErasePersonalDataResponse {
            result: write_result(&written),
        })
    }
}
