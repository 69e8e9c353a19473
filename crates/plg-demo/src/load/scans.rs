//! The scans' writes.

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _, stream};
use plg_proto::v1;

use super::{Api, IN_FLIGHT, Ids, options};
use crate::{
    model::schools::waves,
    plan::{Plan, ScanPlan},
};

impl Api {
    /// Submits a scan; returns its response id.
    async fn submit(&self, scan: &ScanPlan, ids: &Ids) -> anyhow::Result<String> {
        let wave = waves()[scan.wave].label;
        let response = self
            .scans
            .clone()
            .submit_scan(v1::SubmitScanRequest {
                options: options(&scan.rid, scan.on),
                study_id: ids.study.clone(),
                school_id: ids.schools[scan.school].clone(),
                wave: wave.to_owned(),
                respondent: scan.respondent.clone(),
                role: scan.role.into(),
                answers: scan.answers.clone(),
                instrument_version: String::new(),
            })
            .await
            .with_context(|| format!("submitting the {wave} scan of {}", scan.respondent))?
            .into_inner();
        self.count(response.result)?;
        Ok(response.response_id)
    }

    /// The scans, then the resubmissions that supersede some, then the retractions.
    pub(super) async fn write_scans(&self, plan: &Plan, ids: &Ids) -> anyhow::Result<()> {
        let responses = stream::iter(plan.scans.iter().map(|scan| self.submit(scan, ids)))
            .buffered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        // Resubmissions supersede the first submissions, so they come after them.
        stream::iter(plan.resubmissions.iter().map(|scan| self.submit(scan, ids)))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        for retraction in &plan.retractions {
            let response = self
                .scans
                .clone()
                .retract_scan(v1::RetractScanRequest {
                    options: options(&retraction.rid, retraction.on),
                    response_id: responses[retraction.scan].clone(),
                    reason: retraction.reason.to_owned(),
                })
                .await
                .with_context(|| {
                    format!(
                        "retracting the scan of {}",
                        plan.scans[retraction.scan].respondent
                    )
                })?;
            self.count(response.into_inner().result)?;
        }
        Ok(())
    }
}
