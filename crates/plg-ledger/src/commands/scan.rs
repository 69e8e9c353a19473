//! A respondent's scan, and their consent.

use plg_domain::{
    consent::{Consent, ConsentCommand},
    ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
    scan::{ItemAnswer, RespondentRole, ScanCommand, ScanResponse},
    school::School,
    study::Study,
    values::{InstrumentVersion, Pseudonym, Text, WaveLabel},
};

use crate::{Command, CommandContext, Ledger, ServiceError, Subject, SubjectOf};

/// A respondent's answers for a wave; a resubmission supersedes their earlier one.
#[derive(Debug)]
pub struct SubmitScan {
    pub study_id: StudyId,
    pub school_id: SchoolId,
    pub wave: WaveLabel,
    pub respondent: Pseudonym,
    pub role: RespondentRole,
    pub answers: Vec<ItemAnswer>,
    pub instrument_version: Option<InstrumentVersion>,
}

impl SubmitScan {
    fn response_id(&self) -> ResponseId {
        ResponseId::derive(self.study_id, self.school_id, &self.wave, &self.respondent)
    }
}

impl Command for SubmitScan {
    type Aggregate = ScanResponse;

    fn target(&self) -> String {
        self.response_id().to_string()
    }

    fn subject(&self) -> SubjectOf<ScanResponse> {
        SubjectOf::Request(Subject::school(self.school_id).in_study(self.study_id))
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        context: &CommandContext,
    ) -> Result<ScanCommand, ServiceError> {
        ledger
            .require_all::<School, _>("school", [self.school_id])
            .await?;
        let study = ledger.require::<Study>("study", self.study_id).await?;
        let answered_on = context.occurred_on();
        let terms = study.scan_terms(
            self.school_id,
            &self.wave,
            answered_on,
            self.instrument_version.as_ref(),
        )?;
        // Checked here, not in the scan's own stream: a submission racing a withdrawal may
        // still land after it, and the research view then marks it withdrawn too.
        let consent_id = ConsentId::derive(self.study_id, self.school_id, &self.respondent);
        let (consent, _) = ledger
            .load::<Consent>(&Ledger::stream::<Consent>(consent_id))
            .await?;
        consent.ensure_given()?;
        Ok(ScanCommand::Submit {
            response_id: self.response_id(),
            submission_id: SubmissionId::new_random(),
            school_id: self.school_id,
            respondent: self.respondent,
            role: self.role,
            answered_on,
            answers: self.answers,
            terms,
        })
    }
}

/// Takes a submission back; the history keeps it.
#[derive(Debug)]
pub struct RetractScan {
    pub response_id: ResponseId,
    pub reason: Option<Text>,
}

impl Command for RetractScan {
    type Aggregate = ScanResponse;

    fn target(&self) -> String {
        self.response_id.to_string()
    }

    /// A response that does not exist concerns nothing, so only unrestricted keys learn
    /// that it does not exist.
    fn subject(&self) -> SubjectOf<ScanResponse> {
        SubjectOf::Target(|scan: &ScanResponse| match scan.study_id {
            Some(study_id) => Subject::schools(scan.school_id).in_study(study_id),
            None => Subject::schools([]),
        })
    }

    async fn prepare(self, _: &Ledger, _: &CommandContext) -> Result<ScanCommand, ServiceError> {
        Ok(ScanCommand::Retract {
            reason: self.reason,
        })
    }
}

/// A respondent withdraws consent in a study at a school: none of their scans counts any
/// more, and no new one is accepted.
#[derive(Debug)]
pub struct WithdrawConsent {
    pub study_id: StudyId,
    pub school_id: SchoolId,
    pub respondent: Pseudonym,
    pub reason: Option<Text>,
}

impl WithdrawConsent {
    fn consent_id(&self) -> ConsentId {
        ConsentId::derive(self.study_id, self.school_id, &self.respondent)
    }
}

impl Command for WithdrawConsent {
    type Aggregate = Consent;

    fn target(&self) -> String {
        self.consent_id().to_string()
    }

    fn subject(&self) -> SubjectOf<Consent> {
        SubjectOf::Request(Subject::school(self.school_id).in_study(self.study_id))
    }

    async fn prepare(
        self,
        ledger: &Ledger,
        _: &CommandContext,
    ) -> Result<ConsentCommand, ServiceError> {
        ledger
            .require_all::<School, _>("school", [self.school_id])
            .await?;
        let study = ledger.require::<Study>("study", self.study_id).await?;
        study.ensure_enrolled(self.school_id)?;
        // Whether the respondent ever answered does not matter: consent can be withdrawn
        // before the first scan, and then no scan is accepted.
        Ok(ConsentCommand::Withdraw {
            consent_id: self.consent_id(),
            study_id: self.study_id,
            school_id: self.school_id,
            respondent: self.respondent,
            reason: self.reason,
        })
    }
}
