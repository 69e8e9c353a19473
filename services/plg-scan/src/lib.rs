//! ScanService: staff's answers to the Scan School als PLG. A respondent's answers for a wave
//! form one response stream; a resubmission supersedes the earlier one, and the history keeps both.
//! A respondent may withdraw consent (one consent stream per respondent in a study at a
//! school): none of their scans counts any more and no new one is accepted.

use std::collections::BTreeSet;

use plg_domain::{
    consent::{Consent, ConsentCommand, ConsentEvent},
    ids::{ConsentId, ResponseId, SchoolId, StudyId, SubmissionId},
    scan::{ItemAnswer, ScanCommand, ScanEvent, ScanResponse},
    school::School,
    study::Study,
    values::{InstrumentVersion, ItemCode, Pseudonym, Score, Text, WaveLabel},
};
use plg_proto::v1::{
    self,
    scan_service_server::{ScanService, ScanServiceServer},
};
use plg_runtime::{
    Ledger, ServiceError, Subject, Target, WriteContext,
    parse::{self, Violations},
};
use tonic::{Request, Response, Status};

pub fn server(ledger: &Ledger) -> ScanServiceServer<Scans> {
    ScanServiceServer::new(Scans {
        ledger: ledger.clone(),
    })
}

#[derive(Debug, Clone)]
pub struct Scans {
    ledger: Ledger,
}

/// Every answer, each item at most once (whether it is in the instrument depends on the study).
fn answers(violations: &mut Violations, answers: &[v1::ItemAnswer]) -> Option<Vec<ItemAnswer>> {
    let mut answered = BTreeSet::new();
    violations.each("answers", answers, |violations, field, answer| {
        let code = violations.required(
            &format!("{field}.item_code"),
            &answer.item_code,
            ItemCode::parse,
        );
        if let Some(code) = &code {
            violations.first_time(&mut answered, "answers", code, || {
                format!("item {code} is answered more than once")
            });
        }
        let current = answer.current.map(Score::new).transpose();
        let current = violations.check(format!("{field}.current"), current);
        let desired = answer.desired.map(Score::new).transpose();
        let desired = violations.check(format!("{field}.desired"), desired);
        let (current, desired) = (current?, desired?);
        let scores = ItemAnswer::check_scores(current, desired);
        violations.check(format!("{field}.desired"), scores)?;
        violations.check(
            format!("{field}.desired"),
            ItemAnswer::new(code?, current, desired),
        )
    })
}

#[tonic::async_trait]
impl ScanService for Scans {
    async fn submit_scan(
        &self,
        request: Request<v1::SubmitScanRequest>,
    ) -> Result<Response<v1::SubmitScanResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<ScanResponse>(&context, async {
                let mut violations = Violations::default();
                let study_id = violations.required("study_id", &message.study_id, StudyId::parse);
                let school_id =
                    violations.required("school_id", &message.school_id, SchoolId::parse);
                let wave = violations.required("wave", &message.wave, WaveLabel::parse);
                let respondent =
                    violations.required("respondent", &message.respondent, Pseudonym::parse);
                let role = violations.check("role", parse::respondent_role(message.role));
                let answers = answers(&mut violations, &message.answers);
                let version = violations.optional(
                    "instrument_version",
                    &message.instrument_version,
                    InstrumentVersion::parse,
                );
                let (
                    Some(study_id),
                    Some(school_id),
                    Some(wave),
                    Some(respondent),
                    Some(role),
                    Some(answers),
                    Some(version),
                    true,
                ) = (
                    study_id,
                    school_id,
                    wave,
                    respondent,
                    role,
                    answers,
                    version,
                    violations.is_empty(),
                )
                else {
                    return Err(violations.into_error());
                };
                let subject = Subject::school(school_id).in_study(study_id);
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", [school_id])
                    .await?;
                let study = self.ledger.require::<Study>("study", study_id).await?;
                let answered_on = context.occurred_on();
                let terms = study.scan_terms(school_id, &wave, answered_on, version.as_ref())?;
                // Checked here, not in the scan's own stream: a submission racing a withdrawal
                // may still land after it, and the research view then marks it withdrawn too.
                let consent_id = ConsentId::derive(study_id, school_id, &respondent);
                let (consent, _) = self
                    .ledger
                    .load::<Consent>(&Ledger::stream::<Consent>(consent_id))
                    .await?;
                consent.ensure_given()?;
                let response_id = ResponseId::derive(study_id, school_id, &wave, &respondent);
                Ok(Target::new(
                    response_id,
                    subject,
                    ScanCommand::Submit {
                        response_id,
                        submission_id: SubmissionId::new_random(),
                        school_id,
                        respondent,
                        role,
                        answered_on,
                        answers,
                        terms,
                    },
                ))
            })
            .await?;
        let ScanEvent::ScanSubmitted {
            response_id,
            submission_id,
            supersedes,
            ..
        } = written.first()?
        else {
            return Err(ServiceError::unexpected(&written.outcome.stream, "ScanSubmitted").into());
        };
        Ok(Response::new(v1::SubmitScanResponse {
            response_id: response_id.to_string(),
            submission_id: submission_id.to_string(),
            superseded_submission_id: supersedes.map(|id| id.to_string()).unwrap_or_default(),
            result: Some(written.result()),
        }))
    }

    async fn retract_scan(
        &self,
        request: Request<v1::RetractScanRequest>,
    ) -> Result<Response<v1::RetractScanResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<ScanResponse>(&context, async {
                let mut violations = Violations::default();
                let response_id =
                    violations.required("response_id", &message.response_id, ResponseId::parse);
                let reason = violations.optional("reason", &message.reason, Text::parse);
                let (Some(response_id), Some(reason)) = (response_id, reason) else {
                    return Err(violations.into_error());
                };
                Ok(Target::new(
                    response_id,
                    self.ledger.scan_subject(response_id).await?,
                    ScanCommand::Retract { reason },
                ))
            })
            .await?;
        Ok(Response::new(v1::RetractScanResponse {
            result: Some(written.result()),
        }))
    }

    async fn withdraw_consent(
        &self,
        request: Request<v1::WithdrawConsentRequest>,
    ) -> Result<Response<v1::WithdrawConsentResponse>, Status> {
        let (context, message) = WriteContext::from_request(request)?;
        let written = self
            .ledger
            .write::<Consent>(&context, async {
                let mut violations = Violations::default();
                let study_id = violations.required("study_id", &message.study_id, StudyId::parse);
                let school_id =
                    violations.required("school_id", &message.school_id, SchoolId::parse);
                let respondent =
                    violations.required("respondent", &message.respondent, Pseudonym::parse);
                let reason = violations.optional("reason", &message.reason, Text::parse);
                let (Some(study_id), Some(school_id), Some(respondent), Some(reason)) =
                    (study_id, school_id, respondent, reason)
                else {
                    return Err(violations.into_error());
                };
                let subject = Subject::school(school_id).in_study(study_id);
                let subject = self.ledger.authorized(&context, subject).await?;
                self.ledger
                    .require_all::<School, _>("school", [school_id])
                    .await?;
                let study = self.ledger.require::<Study>("study", study_id).await?;
                study.ensure_enrolled(school_id)?;
                // Whether the respondent ever answered does not matter: consent can be
                // withdrawn before the first scan, and then no scan is accepted.
                let consent_id = ConsentId::derive(study_id, school_id, &respondent);
                Ok(Target::new(
                    consent_id,
                    subject,
                    ConsentCommand::Withdraw {
                        consent_id,
                        study_id,
                        school_id,
                        respondent,
                        reason,
                    },
                ))
            })
            .await?;
        let ConsentEvent::ConsentWithdrawn { consent_id, .. } = written.first()?;
        Ok(Response::new(v1::WithdrawConsentResponse {
            consent_id: consent_id.to_string(),
            result: Some(written.result()),
        }))
    }
}
