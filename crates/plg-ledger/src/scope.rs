//! The one scope check every command passes before it is decided.

use plg_domain::{access::Scope, ids::SchoolId, school::School};

use crate::{
    Caller, Ledger, ServiceError, Subject,
    caller::{Access, out_of_scope},
};

impl Ledger {
    /// Whether the caller's scope reaches `subject`. Denials are PERMISSION_DENIED.
    pub async fn authorize(&self, caller: &Caller, subject: &Subject) -> Result<(), ServiceError> {
        let Access::Key { scope, .. } = &caller.access else {
            return Ok(());
        };
        if scope.everything {
            return Ok(());
        }
        match subject {
            Subject::Anyone => Ok(()),
            Subject::Registry => Err(ServiceError::PermissionDenied(
                "this call needs a key whose scope is everything".into(),
            )),
            Subject::Schools { study, .. }
                if study.is_some_and(|study| scope.studies.contains(&study)) =>
            {
                Ok(())
            }
            Subject::Schools { schools, .. } if schools.is_empty() => {
                Err(out_of_scope("the request".into()))
            }
            Subject::Schools { schools, .. } => {
                for school in schools {
                    self.reaches_school(scope, *school).await?;
                }
                Ok(())
            }
            Subject::Enrolment { study, .. } if !scope.studies.contains(study) => {
                Err(out_of_scope(format!("study {study}")))
            }
            Subject::Enrolment { school, .. } => self.reaches_school(scope, *school).await,
        }
    }

    /// A school is in scope when it is listed, or its board is.
    async fn reaches_school(&self, scope: &Scope, school: SchoolId) -> Result<(), ServiceError> {
        if scope.schools.contains(&school) {
            return Ok(());
        }
        if !scope.boards.is_empty() {
            let (record, _) = self.load::<School>(&Self::stream::<School>(school)).await?;
            if record
                .board
                .as_ref()
                .is_some_and(|board| scope.boards.contains(board))
            {
                return Ok(());
            }
        }
        Err(out_of_scope(format!("school {school}")))
    }
}
