use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{
    Aggregate, DomainError, DomainEvent,
    ids::{SchoolId, StudyId},
    instrument::Instrument,
    values::{InstrumentVersion, Label, Text, WaveLabel},
};

/// A moment of measurement: scans for it are accepted from `opens_on` to `closes_on`, inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub label: WaveLabel,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
}

impl Wave {
    /// A study's waves in the order they are measured: by opening date, then label. A wave's
    /// ordinal (1, 2, …) is its place in this order.
    pub fn in_order(waves: &[Wave]) -> Vec<&Wave> {
        let mut ordered: Vec<&Wave> = waves.iter().collect();
        ordered.sort_by(|a, b| (a.opens_on, &a.label).cmp(&(b.opens_on, &b.label)));
        ordered
    }

    /// A wave closes on or after the day it opens; checkable before its label is known.
    pub fn check_window(
        opens_on: NaiveDate,
        closes_on: NaiveDate,
    ) -> Result<(), crate::ValueError> {
        if closes_on < opens_on {
            return Err(crate::ValueError::new("must not be before opens_on"));
        }
        Ok(())
    }

    pub fn new(
        label: WaveLabel,
        opens_on: NaiveDate,
        closes_on: NaiveDate,
    ) -> Result<Self, crate::ValueError> {
        Self::check_window(opens_on, closes_on)?;
        Ok(Self {
            label,
            opens_on,
            closes_on,
        })
    }
}

/// How a study protects its respondents and schools in the research view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confidentiality {
    /// Groups of respondents smaller than this are suppressed.
    pub min_group_size: MinGroupSize,
    /// Whether researchers see schools' names rather than pseudonyms.
    pub identify_schools: bool,
}

impl Default for Confidentiality {
    fn default() -> Self {
        Self {
            min_group_size: MinGroupSize::DEFAULT,
            identify_schools: false,
        }
    }
}

/// The smallest group of respondents that may be shown: at least 3, so that no one's answer
/// can be read off a group of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct MinGroupSize(u32);

impl MinGroupSize {
    pub const DEFAULT: Self = Self(5);

    pub fn new(value: u32) -> Result<Self, crate::ValueError> {
        if (3..=1000).contains(&value) {
            Ok(Self(value))
        } else {
            Err(crate::ValueError::new("must be between 3 and 1000"))
        }
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for MinGroupSize {
    type Error = crate::ValueError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<MinGroupSize> for u32 {
    fn from(value: MinGroupSize) -> Self {
        value.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StudyCommand {
    Define {
        study_id: StudyId,
        title: Label,
        description: Option<Text>,
        waves: Vec<Wave>,
        confidentiality: Confidentiality,
    },
    RegisterInstrument(Instrument),
    EnrolSchool {
        school_id: SchoolId,
    },
    /// Publishes a closed wave to researchers and ends its data collection.
    ReleaseWave {
        wave: WaveLabel,
        released_on: NaiveDate,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum StudyEvent {
    /// The instrument is stored whole, so the study keeps the items it was defined with even
    /// when a later build ships another built-in version.
    StudyDefined {
        study_id: StudyId,
        title: Label,
        description: Option<Text>,
        waves: Vec<Wave>,
        instrument: Instrument,
        /// Added after the first events were written: absent means the defaults.
        #[serde(default)]
        confidentiality: Confidentiality,
    },
    InstrumentRegistered {
        instrument: Instrument,
    },
    SchoolEnrolled {
        school_id: SchoolId,
    },
    /// From here on researchers see the wave's scores, and it takes no more scans.
    WaveReleased {
        wave: WaveLabel,
        released_on: NaiveDate,
    },
}

impl DomainEvent for StudyEvent {}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Study {
    pub study_id: Option<StudyId>,
    pub waves: Vec<Wave>,
    pub confidentiality: Confidentiality,
    /// In registration order; the last is the current one.
    pub instruments: Vec<Instrument>,
    pub enrolled: BTreeSet<SchoolId>,
    pub released: BTreeSet<WaveLabel>,
}

/// What a scan must follow: the wave it belongs to and the instrument its answers use.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanTerms {
    pub study_id: StudyId,
    pub wave: Wave,
    pub instrument: Instrument,
}

impl Study {
    pub fn instrument(&self, version: Option<&InstrumentVersion>) -> Option<&Instrument> {
        match version {
            Some(version) => self.instruments.iter().find(|i| &i.version == version),
            None => self.instruments.last(),
        }
    }

    /// The study's id, if `school_id` is enrolled in it: what a school's respondents need
    /// before they answer or withdraw consent.
    pub fn ensure_enrolled(&self, school_id: SchoolId) -> Result<StudyId, DomainError> {
        let study_id = self
            .study_id
            .ok_or_else(|| DomainError::not_found("study"))?;
        if !self.enrolled.contains(&school_id) {
            return Err(DomainError::rule(
                "school_not_enrolled",
                format!("school {school_id} is not enrolled in study {study_id}"),
            ));
        }
        Ok(study_id)
    }

    /// The terms under which a scan of `school_id` for `wave`, answered on `answered_on`, is
    /// accepted: the school must be enrolled and the wave open that day.
    pub fn scan_terms(
        &self,
        school_id: SchoolId,
        wave: &WaveLabel,
        answered_on: NaiveDate,
        instrument_version: Option<&InstrumentVersion>,
    ) -> Result<ScanTerms, DomainError> {
        let study_id = self.ensure_enrolled(school_id)?;
        let wave = self
            .waves
            .iter()
            .find(|candidate| &candidate.label == wave)
            .ok_or_else(|| {
                DomainError::invalid("wave", format!("study {study_id} has no wave {wave}"))
            })?;
        if answered_on < wave.opens_on {
            return Err(DomainError::rule(
                "wave_not_open",
                format!("wave {} opens on {}", wave.label, wave.opens_on),
            ));
        }
        if self.released.contains(&wave.label) {
            return Err(DomainError::rule(
                "wave_released",
                format!(
                    "wave {} is released to researchers and takes no more scans",
                    wave.label
                ),
            ));
        }
        if answered_on > wave.closes_on {
            return Err(DomainError::rule(
                "wave_closed",
                format!("wave {} closed on {}", wave.label, wave.closes_on),
            ));
        }
        let instrument = self.instrument(instrument_version).ok_or_else(|| {
            DomainError::invalid(
                "instrument_version",
                format!(
                    "study {study_id} has no instrument version {}",
                    instrument_version.map_or("", |v| v.as_str())
                ),
            )
        })?;
        Ok(ScanTerms {
            study_id,
            wave: wave.clone(),
            instrument: instrument.clone(),
        })
    }
}

impl Aggregate for Study {
    const CATEGORY: &'static str = "study";
    type Command = StudyCommand;
    type Event = StudyEvent;

    fn decide(&self, command: &StudyCommand) -> Result<Vec<StudyEvent>, DomainError> {
        match (command, self.study_id) {
            (
                StudyCommand::Define {
                    study_id,
                    title,
                    description,
                    waves,
                    confidentiality,
                },
                None,
            ) => {
                if waves.is_empty() {
                    return Err(DomainError::invalid(
                        "waves",
                        "a study needs at least one wave",
                    ));
                }
                let mut labels = BTreeSet::new();
                if let Some(duplicate) = waves.iter().find(|wave| !labels.insert(&wave.label)) {
                    return Err(DomainError::invalid(
                        "waves",
                        format!("wave label {} appears more than once", duplicate.label),
                    ));
                }
                Ok(vec![StudyEvent::StudyDefined {
                    study_id: *study_id,
                    title: title.clone(),
                    description: description.clone(),
                    waves: waves.clone(),
                    instrument: Instrument::built_in(),
                    confidentiality: *confidentiality,
                }])
            }
            (StudyCommand::Define { study_id, .. }, Some(_)) => {
                Err(DomainError::already_exists("study", study_id))
            }
            (_, None) => Err(DomainError::not_found("study")),
            (StudyCommand::RegisterInstrument(instrument), Some(study_id)) => {
                if self.instrument(Some(&instrument.version)).is_some() {
                    return Err(DomainError::rule(
                        "instrument_version_exists",
                        format!(
                            "study {study_id} already has instrument version {}",
                            instrument.version
                        ),
                    ));
                }
                Ok(vec![StudyEvent::InstrumentRegistered {
                    instrument: instrument.clone(),
                }])
            }
            (StudyCommand::EnrolSchool { school_id }, Some(study_id)) => {
                if self.enrolled.contains(school_id) {
                    return Err(DomainError::already_exists(
                        "enrolment",
                        format!("school {school_id} in study {study_id}"),
                    ));
                }
                Ok(vec![StudyEvent::SchoolEnrolled {
                    school_id: *school_id,
                }])
            }
            (StudyCommand::ReleaseWave { wave, released_on }, Some(study_id)) => {
                let Some(known) = self.waves.iter().find(|known| &known.label == wave) else {
                    return Err(DomainError::invalid(
                        "wave",
                        format!("study {study_id} has no wave {wave}"),
                    ));
                };
                if self.released.contains(wave) {
                    return Err(DomainError::rule(
                        "wave_released",
                        format!("wave {wave} is released already"),
                    ));
                }
                // Released while open, each later scan could be differenced out of the figures.
                if known.closes_on >= *released_on {
                    return Err(DomainError::rule(
                        "wave_not_closed",
                        format!("wave {wave} closes on {}", known.closes_on),
                    ));
                }
                Ok(vec![StudyEvent::WaveReleased {
                    wave: wave.clone(),
                    released_on: *released_on,
                }])
            }
        }
    }

    fn evolve(&mut self, event: &StudyEvent) {
        match event {
            StudyEvent::StudyDefined {
                study_id,
                waves,
                instrument,
                confidentiality,
                ..
            } => {
                self.study_id = Some(*study_id);
                self.waves = waves.clone();
                self.confidentiality = *confidentiality;
                self.instruments = vec![instrument.clone()];
            }
            StudyEvent::InstrumentRegistered { instrument } => {
                self.instruments.push(instrument.clone());
            }
            StudyEvent::SchoolEnrolled { school_id } => {
                self.enrolled.insert(*school_id);
            }
            StudyEvent::WaveReleased { wave, .. } => {
                self.released.insert(wave.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::spec::{given, then_error, then_events};

    fn date(value: &str) -> NaiveDate {
        crate::values::parse_date(value).expect("valid date")
    }

    fn wave(label: &str, opens: &str, closes: &str) -> Wave {
        Wave::new(
            WaveLabel::parse(label).expect("valid label"),
            date(opens),
            date(closes),
        )
        .expect("valid wave")
    }

    fn defined(study_id: StudyId) -> Vec<StudyEvent> {
        then_events(
            &Study::default(),
            &StudyCommand::Define {
                study_id,
                title: Label::parse("De school als PLG").expect("valid title"),
                description: None,
                waves: vec![
                    wave("T1", "2015-01-01", "2015-03-31"),
                    wave("T2", "2016-01-01", "2016-03-31"),
                ],
                confidentiality: Confidentiality::default(),
            },
        )
    }

    #[test]
    fn groups_smaller_than_three_are_never_shown() {
        assert!(MinGroupSize::new(2).is_err());
        assert_eq!(MinGroupSize::new(3).map(MinGroupSize::value), Ok(3));
        assert_eq!(MinGroupSize::DEFAULT.value(), 5);
    }

    #[test]
    fn studies_defined_before_confidentiality_settings_read_as_the_defaults() {
        let stored = serde_json::json!({
            "study_id": StudyId::new_random(),
            "title": "De school als PLG",
            "description": null,
            "waves": [],
            "instrument": Instrument::built_in(),
        });
        let event: StudyEvent = crate::event::decode("StudyDefined", 1, stored).expect("decodes");
        let StudyEvent::StudyDefined {
            confidentiality, ..
        } = event
        else {
            panic!("expected a definition");
        };
        assert_eq!(confidentiality, Confidentiality::default());
    }

    #[test]
    fn a_wave_cannot_close_before_it_opens() {
        let label = WaveLabel::parse("T1").expect("valid label");
        let error = Wave::new(label, date("2015-03-01"), date("2015-01-01")).expect_err("invalid");
        assert_eq!(error.0, "must not be before opens_on");
    }

    #[test]
    fn a_study_starts_with_the_built_in_instrument() {
        let events = defined(StudyId::new_random());
        let state = given::<Study>(&events);
        assert_eq!(state.instrument(None), Some(&Instrument::built_in()));
        assert_eq!(state.waves.len(), 2);
    }

    #[test]
    fn duplicate_wave_labels_are_refused() {
        let command = StudyCommand::Define {
            study_id: StudyId::new_random(),
            title: Label::parse("Study").expect("valid title"),
            description: None,
            waves: vec![
                wave("T1", "2015-01-01", "2015-03-31"),
                wave("T1", "2016-01-01", "2016-03-31"),
            ],
            confidentiality: Confidentiality::default(),
        };
        let error = then_error(&Study::default(), &command);
        assert!(matches!(
            error,
            DomainError::InvalidField { field: "waves", .. }
        ));
    }

    #[test]
    fn a_school_is_enrolled_once() {
        let school_id = SchoolId::new_random();
        let mut history = defined(StudyId::new_random());
        history.push(StudyEvent::SchoolEnrolled { school_id });
        let error = then_error(
            &given::<Study>(&history),
            &StudyCommand::EnrolSchool { school_id },
        );
        assert!(matches!(error, DomainError::AlreadyExists { .. }));
    }

    #[test]
    fn an_undefined_study_enrols_nobody() {
        let error = then_error(
            &Study::default(),
            &StudyCommand::EnrolSchool {
                school_id: SchoolId::new_random(),
            },
        );
        assert!(matches!(error, DomainError::NotFound { .. }));
    }

    #[test]
    fn a_registered_instrument_becomes_current_and_versions_stay_unique() {
        let mut own = Instrument::built_in();
        own.version = InstrumentVersion::parse("own/2").expect("valid version");
        own.items.truncate(4);
        let history = defined(StudyId::new_random());
        let state = given::<Study>(&history);
        let events = then_events(&state, &StudyCommand::RegisterInstrument(own.clone()));
        let mut state = state;
        events.iter().for_each(|event| state.evolve(event));
        assert_eq!(state.instrument(None), Some(&own));
        let error = then_error(&state, &StudyCommand::RegisterInstrument(own));
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "instrument_version_exists",
                ..
            }
        ));
    }

    #[test]
    fn scans_need_an_enrolled_school_and_an_open_wave() {
        let school_id = SchoolId::new_random();
        let t1 = WaveLabel::parse("T1").expect("valid label");
        let mut history = defined(StudyId::new_random());
        let state = given::<Study>(&history);
        let error = state
            .scan_terms(school_id, &t1, date("2015-02-01"), None)
            .expect_err("not enrolled");
        assert!(matches!(
            error,
            DomainError::RuleViolated {
                rule: "school_not_enrolled",
                ..
            }
        ));

        history.push(StudyEvent::SchoolEnrolled { school_id });
        let state = given::<Study>(&history);
        let terms = state
            .scan_terms(school_id, &t1, date("2015-03-31"), None)
            .expect("open on its last day");
        assert_eq!(terms.wave.label, t1);
        let closed = state
            .scan_terms(school_id, &t1, date("2015-04-01"), None)
            .expect_err("closed");
        assert!(matches!(
            closed,
            DomainError::RuleViolated {
                rule: "wave_closed",
                ..
            }
        ));
        let early = state
            .scan_terms(school_id, &t1, date("2014-12-31"), None)
            .expect_err("not open");
        assert!(matches!(
            early,
            DomainError::RuleViolated {
                rule: "wave_not_open",
                ..
            }
        ));
        let unknown = WaveLabel::parse("T9").expect("valid label");
        let error = state
            .scan_terms(school_id, &unknown, date("2015-02-01"), None)
            .expect_err("no wave");
        assert!(matches!(
            error,
            DomainError::InvalidField { field: "wave", .. }
        ));
    }

    #[test]
    fn a_closed_wave_is_released_once_and_then_takes_no_scans() {
        let school_id = SchoolId::new_random();
        let t1 = WaveLabel::parse("T1").expect("valid label");
        let mut history = defined(StudyId::new_random());
        history.push(StudyEvent::SchoolEnrolled { school_id });
        let release = |released_on| StudyCommand::ReleaseWave {
            wave: t1.clone(),
            released_on: date(released_on),
        };
        // T1 closes on 2015-03-31: releasing it that day would show a wave still collecting.
        let open = then_error(&given::<Study>(&history), &release("2015-03-31"));
        assert!(matches!(
            open,
            DomainError::RuleViolated {
                rule: "wave_not_closed",
                ..
            }
        ));
        let events = then_events(&given::<Study>(&history), &release("2015-04-01"));
        assert_eq!(
            events,
            [StudyEvent::WaveReleased {
                wave: t1.clone(),
                released_on: date("2015-04-01"),
            }]
        );
        history.extend(events);
        let state = given::<Study>(&history);
        let again = then_error(&state, &release("2015-05-01"));
        assert!(matches!(
            again,
            DomainError::RuleViolated {
                rule: "wave_released",
                ..
            }
        ));
        // Not even a scan dated inside the wave, entered late.
        let late = state
            .scan_terms(school_id, &t1, date("2015-02-01"), None)
            .expect_err("released");
        assert!(matches!(
            late,
            DomainError::RuleViolated {
                rule: "wave_released",
                ..
            }
        ));
        let unknown = StudyCommand::ReleaseWave {
            wave: WaveLabel::parse("T9").expect("valid label"),
            released_on: date("2020-01-01"),
        };
        let error = then_error(&state, &unknown);
        assert!(matches!(
            error,
            DomainError::InvalidField { field: "wave", .. }
        ));
    }
}
