//! Who is calling: an API key, as KurrentDB's clients send credentials (basic, the user name
//! the key's id and the password its secret) or as the product's API takes it (bearer). Only
//! operator and administrator keys read; the whole log only operators.

use base64::Engine as _;
use plg_domain::{Aggregate as _, access::Role, ids::SchoolId, school::School};
use plg_eventstore::StreamName;
use plg_ledger::{Caller, Ledger, ServiceError, Subject};
use tonic::{Status, metadata::MetadataMap};

/// Whether callers' keys are checked: always, except in plgd's insecure local mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    Checked,
    InsecureLocal,
}

/// The caller the request's credentials name.
pub(crate) async fn caller(
    ledger: &Ledger,
    keys: Keys,
    metadata: &MetadataMap,
) -> Result<Caller, Status> {
    if keys == Keys::InsecureLocal {
        return Ok(Caller::insecure_local());
    }
    let unauthenticated = |message: &str| Status::unauthenticated(message.to_owned());
    let header = metadata
        .get("authorization")
        .ok_or_else(|| {
            unauthenticated(
                "credentials are required: an API key's id as user name and its secret as password",
            )
        })?
        .to_str()
        .map_err(|_| unauthenticated("the authorization header is not text"))?;
    let (scheme, value) = header
        .split_once(' ')
        .ok_or_else(|| unauthenticated("the authorization header must be `Basic` or `Bearer`"))?;
    let token = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| unauthenticated("the basic credentials are not valid base64 text"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| unauthenticated("the basic credentials must be `user:password`"))?;
        format!("plg_{id}_{secret}")
    } else if scheme.eq_ignore_ascii_case("bearer") {
        value.trim().to_owned()
    } else {
        return Err(unauthenticated(
            "the authorization header must be `Basic` or `Bearer`",
        ));
    };
    ledger
        .authenticate(&token)
        .await
        .map_err(|refused| plg_server::status(refused.error))
}

/// Operators read every stream; administrators the streams their scope reaches: all of them
/// when it is everything, else the streams of the schools it names.
pub(crate) async fn may_read_stream(
    ledger: &Ledger,
    caller: &Caller,
    stream: &StreamName,
) -> Result<(), ServiceError> {
    caller.require_any(&[Role::Operator, Role::Administrator])?;
    if caller.require_any(&[Role::Operator]).is_ok()
        || ledger.authorize(caller, &Subject::Registry).await.is_ok()
    {
        return Ok(());
    }
    let school = stream
        .as_str()
        .strip_prefix(School::CATEGORY)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|id| SchoolId::parse(id).ok())
        .ok_or_else(|| {
            ServiceError::PermissionDenied(format!(
                "an administrator whose scope is not everything reads only the school streams \
                 of its schools, not {}",
                stream.as_str()
            ))
        })?;
    ledger.authorize(caller, &Subject::school(school)).await
}

/// `$all` carries every stream: operators only.
pub(crate) fn may_read_all(caller: &Caller) -> Result<(), ServiceError> {
    caller.require_any(&[Role::Operator])
}
