//! The registry: schools, studies (waves and instruments), enrolments and people, the
//! reference data every other command relies on.

use plg_domain::{
    ids::{PersonId, SchoolId, StudyId},
    instrument::Instrument,
    person::{self, Person, PersonCommand, PersonDetails},
    school::{self, School},
    study::{Confidentiality, Study, StudyCommand, Wave},
    values::{Country, Label, Personal, SchoolCode, Sector, Text, WaveLabel},
};

use crate::{Command, CommandContext, Ledger, ServiceError, Subject, SubjectOf};

/// A school, its id derived from its country and its code there.
#[derive(Debug)]
pub struct RegisterSchool {
    pub name: Label,
    pub country: Country,
    pub sector: Sector,
    pub school_code: SchoolCode,
    pub board: Option<Label>,
}

impl RegisterSchool {
    fn school_id(&self) -> SchoolId {
        SchoolId::derive(self.country, &self.school_code)
    }
}

impl Command for RegisterSchool {
    type Aggregate = School;

    fn target(&self) -> String {
        self.school_id().to_string()
    }

    /// Registering a school decides its board, which scopes rest on.
    fn subject(&self) -> SubjectOf<School> {
        SubjectOf::Request(Subject::Registry)
    }

    async fn prepare(
        self,
        _: &Ledger,
        _: &CommandContext,
    ) -> Result<school::RegisterSchool, ServiceError> {
        Ok(school::RegisterSchool {
            school_id: self.school_id(),
            name: self.name,
            country: self.country,
            sector: self.sector,
            school_code: self.school_code,
            board: self.board,
        })
    }
}

/// A new study with its waves, under a new id.
#[derive(Debug)]
pub struct DefineStudy {
    pub study_id: StudyId,
    pub title: Label,
    pub description: Option<Text>,
    pub waves: Vec<Wave>,
    pub confidentiality: Confidentiality,
}

impl Command for DefineStudy {
    type Aggregate = Study;

    fn target(&self) -> String {
        self.study_id.to_string()
    }

    /// A new study has no id to be scoped to.
    fn subject(&self) -> SubjectOf<Study> {
        SubjectOf::Request(Subject::Registry)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<StudyCommand, ServiceError> {
        Ok(StudyCommand::Define {
            study_id: self.study_id,
            title: self.title,
            description: self.description,
            waves: self.waves,
            confidentiality: self.confidentiality,
        })
    }
}

/// Another version of a study's instrument.
#[derive(Debug)]
pub struct RegisterInstrument {
    pub study_id: StudyId,
    pub instrument: Instrument,
}

impl Command for RegisterInstrument {
    type Aggregate = Study;

    fn target(&self) -> String {
        self.study_id.to_string()
    }

    fn subject(&self) -> SubjectOf<Study> {
        SubjectOf::Request(Subject::schools([]).in_study(self.study_id))
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<StudyCommand, ServiceError> {
        Ok(StudyCommand::RegisterInstrument(self.instrument))
    }
}

/// A school enters a study.
#[derive(Debug)]
pub struct EnrolSchool {
    pub study_id: StudyId,
    pub school_id: SchoolId,
}

impl Command for EnrolSchool {
    type Aggregate = Study;

    fn target(&self) -> String {
        self.study_id.to_string()
    }

    fn subject(&self) -> SubjectOf<Study> {
        SubjectOf::Request(Subject::Enrolment {
            school: self.school_id,
            study: self.study_id,
        })
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        _: &CommandContext,
    ) -> Result<StudyCommand, ServiceError> {
        ledger
            .require_all::<School, _>("school", [self.school_id])
            .await?;
        Ok(StudyCommand::EnrolSchool {
            school_id: self.school_id,
        })
    }
}

/// Publishes a closed wave to researchers, today, and ends its data collection.
#[derive(Debug)]
pub struct ReleaseWave {
    pub study_id: StudyId,
    pub wave: WaveLabel,
}

impl Command for ReleaseWave {
    type Aggregate = Study;

    fn target(&self) -> String {
        self.study_id.to_string()
    }

    fn subject(&self) -> SubjectOf<Study> {
        SubjectOf::Request(Subject::schools([]).in_study(self.study_id))
    }

    async fn prepare(
        self,
        _: &Ledger,
        context: &CommandContext,
    ) -> Result<StudyCommand, ServiceError> {
        Ok(StudyCommand::ReleaseWave {
            wave: self.wave,
            released_on: context.today(),
        })
    }
}

/// A new person, under a new id.
#[derive(Debug)]
pub struct RegisterPerson {
    pub person_id: PersonId,
    /// Marked personal as soon as it is parsed, so it is sealed before it reaches the log.
    pub details: Personal<PersonDetails>,
}

impl Command for RegisterPerson {
    type Aggregate = Person;

    fn target(&self) -> String {
        self.person_id.to_string()
    }

    /// People belong to no school.
    fn subject(&self) -> SubjectOf<Person> {
        SubjectOf::Request(Subject::Anyone)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<PersonCommand, ServiceError> {
        Ok(PersonCommand::Register(person::RegisterPerson {
            person_id: self.person_id,
            details: self.details,
        }))
    }
}

/// Erases a person's personal data: the ledger destroys their key right after recording it.
#[derive(Debug)]
pub struct ErasePersonalData {
    pub person_id: PersonId,
}

impl Command for ErasePersonalData {
    type Aggregate = Person;

    fn target(&self) -> String {
        self.person_id.to_string()
    }

    /// People belong to no school: erasure is for unrestricted administrators.
    fn subject(&self) -> SubjectOf<Person> {
        SubjectOf::Request(Subject::Registry)
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<PersonCommand, ServiceError> {
        Ok(PersonCommand::ErasePersonalData)
    }
}
