//! ScanService's requests and replies.

use std::collections::BTreeSet;

use plg_domain::{
    consent::ConsentEvent,
    ids::{ResponseId, SchoolId, StudyId},
    scan::{ItemAnswer, ScanEvent},
    values::{InstrumentVersion, ItemCode, Pseudonym, Score, Text, WaveLabel},
};
use plg_ledger::{
    CommandContext, ServiceError, Written,
    commands::scan::{RetractScan, SubmitScan, WithdrawConsent},
};
use plg_proto::v1;

use crate::{
    IntoCommand, StreamedWrite,
    parse::{self, Violations},
    write_result,
};

/// Every answer, each item at most once (whether it is in the instrument depends on the study).
fn answers(violations: &mut Violations, answers: &[v1::ItemAnswer]) -> Option<Vec<ItemAnswer>> {
    let mut answered = BTreeSet::new();
    violations.each("answers", answers, |violations, field, answer| {
        let code = violations.required_part(field, "item_code", &answer.item_code, ItemCode::parse);
        if let Some(code) = &code {
            violations.first_time(&mut answered, "answers", code, || {
                format!("item {code} is answered more than once")
            });
        }
        let current = answer.current.map(Score::new).transpose();
        let current = violations.check_part(field, "current", current);
        let desired = answer.desired.map(Score::new).transpose();
        let desired = violations.check_part(field, "desired", desired);
        let (current, desired) = (current?, desired?);
        let scores = ItemAnswer::check_scores(current, desired);
        violations.check_part(field, "desired", scores)?;
        violations.check_part(field, "desired", ItemAnswer::new(code?, current, desired))
    })
}

impl IntoCommand for v1::SubmitScanRequest {
    type Command = SubmitScan;
    type Reply = v1::SubmitScanResponse;

    fn into_command(self, _: &CommandContext) -> Result<SubmitScan, ServiceError> {
        let mut violations = Violations::default();
        let study_id = violations.required("study_id", &self.study_id, StudyId::parse);
        let school_id = violations.required("school_id", &self.school_id, SchoolId::parse);
        let wave = violations.required("wave", &self.wave, WaveLabel::parse);
        let respondent = violations.required("respondent", &self.respondent, Pseudonym::parse);
        let role = violations.check("role", parse::respondent_role(self.role));
        let answers = answers(&mut violations, &self.answers);
        let instrument_version = violations.optional(
            "instrument_version",
            &self.instrument_version,
            InstrumentVersion::parse,
        );
        violations.finish(|| {
            Some(SubmitScan {
                study_id: study_id?,
                school_id: school_id?,
                wave: wave?,
                respondent: respondent?,
                role: role?,
                answers: answers?,
                instrument_version: instrument_version?,
            })
        })
    }

    fn reply(written: Written<ScanEvent>) -> Result<v1::SubmitScanResponse, ServiceError> {
        let ScanEvent::ScanSubmitted {
            response_id,
            submission_id,
            supersedes,
            ..
        } = written.first()?
        else {
            return Err(ServiceError::unexpected(
                &written.outcome.stream,
                "ScanSubmitted",
            ));
        };
        Ok(v1::SubmitScanResponse {
            response_id: response_id.to_string(),
            submission_id: submission_id.to_string(),
            superseded_submission_id: supersedes.map(|id| id.to_string()).unwrap_or_default(),
            result: write_result(&written),
        })
    }
}

impl StreamedWrite for v1::ImportScansRequest {
    type Write = v1::SubmitScanRequest;
    type Report = v1::ImportScansResponse;
    const FIELD: &'static str = "scan";

    fn into_write(self) -> Option<v1::SubmitScanRequest> {
        self.scan
    }

    fn report(
        index: u64,
        request_id: String,
        outcome: Result<v1::SubmitScanResponse, v1::WriteError>,
    ) -> v1::ImportScansResponse {
        v1::ImportScansResponse {
            index,
            request_id,
            outcome: Some(match outcome {
                Ok(scan) => v1::import_scans_response::Outcome::Scan(scan),
                Err(error) => v1::import_scans_response::Outcome::Error(error),
            }),
        }
    }
}

impl IntoCommand for v1::RetractScanRequest {
    type Command = RetractScan;
    type Reply = v1::RetractScanResponse;

    fn into_command(self, _: &CommandContext) -> Result<RetractScan, ServiceError> {
        let mut violations = Violations::default();
        let response_id = violations.required("response_id", &self.response_id, ResponseId::parse);
        let reason = violations.optional("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(RetractScan {
                response_id: response_id?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<ScanEvent>) -> Result<v1::RetractScanResponse, ServiceError> {
        Ok(v1::RetractScanResponse {
            result: write_result(&written),
        })
    }
}

impl IntoCommand for v1::WithdrawConsentRequest {
    type Command = WithdrawConsent;
    type Reply = v1::WithdrawConsentResponse;

    fn into_command(self, _: &CommandContext) -> Result<WithdrawConsent, ServiceError> {
        let mut violations = Violations::default();
        let study_id = violations.required("study_id", &self.study_id, StudyId::parse);
        let school_id = violations.required("school_id", &self.school_id, SchoolId::parse);
        let respondent = violations.required("respondent", &self.respondent, Pseudonym::parse);
        let reason = violations.optional("reason", &self.reason, Text::parse);
        violations.finish(|| {
            Some(WithdrawConsent {
                study_id: study_id?,
                school_id: school_id?,
                respondent: respondent?,
                reason: reason?,
            })
        })
    }

    fn reply(written: Written<ConsentEvent>) -> Result<v1::WithdrawConsentResponse, ServiceError> {
        let ConsentEvent::ConsentWithdrawn { consent_id, .. } = written.first()?;
        Ok(v1::WithdrawConsentResponse {
            consent_id: consent_id.to_string(),
            result: write_result(&written),
        })
    }
}
