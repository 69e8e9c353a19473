//! The registry's writes: schools, the study, persons, and the waves' release.

use anyhow::{Context as _, bail};
use plg_proto::v1;

use super::{Api, options};
use crate::{
    STUDY_TITLE,
    model::{
        instrument::{Item, instrument_items},
        schools::{date, waves},
    },
    plan::{PersonPlan, Plan, SchoolPlan},
};

impl Api {
    pub(super) async fn register_school(&self, school: &SchoolPlan) -> anyhow::Result<String> {
        let response = self
            .registry
            .clone()
            .register_school(v1::RegisterSchoolRequest {
                options: options(&school.register_rid, date(2014, 11, 1)),
                name: school.name.to_owned(),
                country: school.country.into(),
                sector: school.sector.into(),
                school_code: school.code.clone(),
                board: school.board.to_owned(),
            })
            .await
            .with_context(|| format!("registering {} ({})", school.name, school.code))?
            .into_inner();
        self.count(response.result)?;
        Ok(response.school_id)
    }

    pub(super) async fn define_study(&self, plan: &Plan) -> anyhow::Result<String> {
        let response = self
            .registry
            .clone()
            .define_study(v1::DefineStudyRequest {
                options: options(&plan.study_rid, date(2014, 11, 15)),
                title: STUDY_TITLE.to_owned(),
                description: format!(
                    "Synthetische demonstratiestudie naar het voorbeeld van 'De school als PLG' \
                     (Kohnstamm Instituut en ICLON, 2014-2018): {} scholen, drie metingen met \
                     de Scan School als PLG, interventies, ontwikkelplannen en PLG's. \
                     Gegenereerd door plgd demo met seed {}.",
                    plan.schools.len(),
                    plan.seed
                ),
                waves: waves()
                    .iter()
                    .map(|wave| v1::Wave {
                        label: wave.label.to_owned(),
                        opens_on: wave.opens.to_string(),
                        closes_on: wave.closes.to_string(),
                    })
                    .collect(),
                min_group_size: None,
                identify_schools: false,
            })
            .await
            .context("defining the study")?
            .into_inner();
        self.count(response.result)?;
        Ok(response.study_id)
    }

    /// The study's instrument must be the one the answers were generated for.
    pub(super) async fn check_instrument(
        &self,
        study_id: &str,
        items: &[Item],
    ) -> anyhow::Result<()> {
        let instrument = self
            .registry
            .clone()
            .get_instrument(v1::GetInstrumentRequest {
                study_id: study_id.to_owned(),
                version: String::new(),
            })
            .await
            .context("reading the study's instrument")?
            .into_inner();
        if instrument_items(&instrument.items)? != items {
            bail!(
                "the study's instrument {} differs from the built-in one",
                instrument.version
            );
        }
        Ok(())
    }

    pub(super) async fn register_person(&self, person: &PersonPlan) -> anyhow::Result<String> {
        let response = self
            .registry
            .clone()
            .register_person(v1::RegisterPersonRequest {
                options: options(&person.rid, person.registered_on),
                name: person.name.clone(),
                email: person.email.clone(),
            })
            .await
            .with_context(|| format!("registering person {}", person.rid))?
            .into_inner();
        self.count(response.result)?;
        Ok(response.person_id)
    }

    /// Releases every wave to researchers, now that all its scans are in.
    pub(super) async fn release_waves(&self, plan: &Plan, study_id: &str) -> anyhow::Result<()> {
        for (wave, rid) in waves().iter().zip(&plan.release_rids) {
            let response = self
                .registry
                .clone()
                .release_wave(v1::ReleaseWaveRequest {
                    options: options(rid, wave.closes.succ_opt().unwrap_or(wave.closes)),
                    study_id: study_id.to_owned(),
                    wave: wave.label.to_owned(),
                })
                .await
                .with_context(|| format!("releasing wave {}", wave.label))?;
            self.count(response.into_inner().result)?;
        }
        Ok(())
    }
}
