//! What the tests build their logs from: varied answers, drawn the same every run.

use chrono::{TimeZone, Utc};
use plg_domain::{
    dimension::Dimension,
    instrument::Instrument,
    scan::RecordedAnswer,
    values::{ItemCode, Score},
};
use plg_eventstore::Position;
use plg_projections::{LogEvent, Payload};

/// A small deterministic generator, so the data set is varied yet the same every run.
pub(crate) struct Draw(pub(crate) u64);

impl Draw {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Answers to the built-in items and sometimes to an extra item whose code sorts between
/// them (`E1.10` before `E1.2`), in a shuffled order, with unanswered items and, now and
/// then, whole dimensions left out.
pub(crate) fn answers(draw: &mut Draw) -> Vec<RecordedAnswer> {
    let score = |draw: &mut Draw| {
        (draw.below(5) > 0).then(|| Score::new(1 + draw.below(5) as u32).expect("a score"))
    };
    let mut items: Vec<(String, Dimension)> = Instrument::built_in()
        .items
        .iter()
        .map(|item| (item.code.as_str().to_owned(), item.dimension))
        .collect();
    for dimension in Dimension::ALL {
        if draw.below(3) == 0 {
            items.push((format!("{}.10", dimension.code()), dimension));
        }
    }
    let skipped = Dimension::ALL[draw.below(24) as usize % Dimension::ALL.len()];
    let mut answers = Vec::new();
    for (code, dimension) in items {
        if dimension == skipped && draw.below(2) == 0 {
            continue;
        }
        answers.push(RecordedAnswer {
            item_code: ItemCode::parse(&code).expect("a code"),
            dimension,
            current: score(draw),
            desired: score(draw),
        });
    }
    for index in (1..answers.len()).rev() {
        answers.swap(index, draw.below(index as u64 + 1) as usize);
    }
    answers
}

pub(crate) struct Log {
    pub(crate) events: Vec<LogEvent>,
}

impl Log {
    pub(crate) fn push(&mut self, payload: Payload) {
        let position = self.events.len() as u64 + 1;
        self.events.push(LogEvent {
            position: Position(position),
            stream: String::new(),
            revision: 0,
            entity_id: String::new(),
            occurred_at: Utc.with_ymd_and_hms(2016, 2, 1, 10, 0, 0).unwrap(),
            traceparent: None,
            payload,
        });
    }
}
