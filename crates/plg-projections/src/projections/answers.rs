//! A submission's answers as `scan_answers` keeps them: one blob per submission rather than a
//! row per item, so applying a scan writes one row and a school-wave's answers are one range
//! of the table's key (`docs/architecture.md`, "The research view's aggregates").
//!
//! The blob holds the answers in item-code byte order (the order `ORDER BY item_code` read
//! them), each as the code's length in bytes (one byte: an item code is at most 32 ASCII
//! characters), the code, the dimension's index in [`Dimension::ALL`], and the current and the
//! desired score (1 to 5, 0 for no answer).

use plg_domain::{dimension::Dimension, scan::RecordedAnswer, values::Score};

/// One answer, read in place from its submission's blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredAnswer<'a> {
    pub item_code: &'a str,
    pub dimension: Dimension,
    pub current: Option<u8>,
    pub desired: Option<u8>,
}

/// The blob of a submission's answers. `None` for an item code longer than a byte can count,
/// which [`ItemCode`](plg_domain::values::ItemCode) never is.
pub fn encode_answers(answers: &[RecordedAnswer]) -> Option<Vec<u8>> {
    let mut sorted: Vec<&RecordedAnswer> = answers.iter().collect();
    sorted.sort_by(|a, b| a.item_code.as_str().cmp(b.item_code.as_str()));
    let mut bytes = Vec::with_capacity(sorted.iter().map(|a| a.item_code.as_str().len() + 4).sum());
    let score = |score: Option<Score>| score.map_or(0, Score::value);
    for answer in sorted {
        let code = answer.item_code.as_str();
        bytes.push(u8::try_from(code.len()).ok()?);
        bytes.extend_from_slice(code.as_bytes());
        // `Dimension::ALL` lists the variants in declaration order.
        bytes.extend([
            answer.dimension as u8,
            score(answer.current),
            score(answer.desired),
        ]);
    }
    Some(bytes)
}

/// The answers of a blob, in item-code order; `None` when the bytes are not such a blob.
pub fn decode_answers(bytes: &[u8]) -> Option<Vec<StoredAnswer<'_>>> {
    let mut answers = Vec::with_capacity(bytes.len() / 8);
    let mut rest = bytes;
    while let Some((&length, after)) = rest.split_first() {
        let (code, after) = after.split_at_checked(usize::from(length))?;
        let ([dimension, current, desired], after) = after.split_first_chunk::<3>()?;
        let score = |value: u8| match value {
            0 => Some(None),
            Score::MIN..=Score::MAX => Some(Some(value)),
            _ => None,
        };
        answers.push(StoredAnswer {
            item_code: std::str::from_utf8(code).ok()?,
            dimension: *Dimension::ALL.get(usize::from(*dimension))?,
            current: score(*current)?,
            desired: score(*desired)?,
        });
        rest = after;
    }
    Some(answers)
}

#[cfg(test)]
mod tests {
    use plg_domain::values::ItemCode;

    use super::*;

    fn answer(
        code: &str,
        dimension: Dimension,
        current: Option<u8>,
        desired: Option<u8>,
    ) -> RecordedAnswer {
        let score = |value: Option<u8>| value.map(|value| Score::try_from(value).expect("a score"));
        RecordedAnswer {
            item_code: ItemCode::parse(code).expect("a code"),
            dimension,
            current: score(current),
            desired: score(desired),
        }
    }

    #[test]
    fn answers_read_back_in_item_code_byte_order() {
        let answers = [
            answer(
                "E1.2",
                Dimension::InternalProfessionalisation,
                Some(5),
                None,
            ),
            answer("C7.3", Dimension::CollegialSupport, None, None),
            answer(
                "E1.10",
                Dimension::InternalProfessionalisation,
                Some(1),
                Some(2),
            ),
            answer(
                "a-much-longer_item.code-of-32-ch",
                Dimension::Communication,
                Some(3),
                Some(4),
            ),
        ];
        let bytes = encode_answers(&answers).expect("encodes");
        let stored = |code, dimension, current, desired| StoredAnswer {
            item_code: code,
            dimension,
            current,
            desired,
        };
        assert_eq!(
            decode_answers(&bytes),
            Some(vec![
                stored("C7.3", Dimension::CollegialSupport, None, None),
                stored(
                    "E1.10",
                    Dimension::InternalProfessionalisation,
                    Some(1),
                    Some(2)
                ),
                stored(
                    "E1.2",
                    Dimension::InternalProfessionalisation,
                    Some(5),
                    None
                ),
                stored(
                    "a-much-longer_item.code-of-32-ch",
                    Dimension::Communication,
                    Some(3),
                    Some(4)
                ),
            ])
        );
        assert_eq!(
            decode_answers(&encode_answers(&[]).expect("encodes")),
            Some(vec![])
        );
    }

    #[test]
    fn bytes_that_are_no_blob_of_answers_do_not_decode() {
        let bytes = encode_answers(&[answer("E1.1", Dimension::Support, Some(2), Some(3))])
            .expect("encodes");
        assert!(
            decode_answers(&bytes[..bytes.len() - 1]).is_none(),
            "cut short"
        );
        let mut bad_dimension = bytes.clone();
        bad_dimension[5] = 12;
        assert!(
            decode_answers(&bad_dimension).is_none(),
            "no 13th dimension"
        );
        let mut bad_score = bytes;
        bad_score[6] = 6;
        assert!(decode_answers(&bad_score).is_none(), "no score of 6");
    }
}
