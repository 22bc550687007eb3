//! SDK errors reduced to [`AwsError`]: the one place that looks inside an `SdkError`, so
//! nothing above the adapters matches on SDK types.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::WriteAttempts;
use crate::error::AwsError;

impl AwsError {
    /// Reduces any SDK error.
    pub fn from_sdk<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + HasStatus + 'static,
    {
        let no_response = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
        );
        let status = err.raw_response().map(HasStatus::status_code);
        let detail = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
        let (code, message) = match err {
            SdkError::ServiceError(e) => (
                e.err().code().map(str::to_string),
                e.err().message().map(str::to_string),
            ),
            _ => (None, None),
        };
        let request_id = err.meta().extra("aws_request_id").map(str::to_string);
        let credentials = credentials_failure(err);
        let ambiguous = credentials.is_none()
            && match err {
                SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
                SdkError::DispatchFailure(failure) => {
                    failure.as_connector_error().is_none_or(|c| !c.is_user())
                        && !super::refused(err)
                }
                SdkError::ServiceError(_) => status.is_some_and(|s| s >= 500),
                _ => false,
            };
        Self {
            operation,
            code,
            message,
            status,
            request_id,
            no_response: no_response && credentials.is_none(),
            ambiguous,
            credentials,
            detail,
        }
    }

    /// Reduces the SDK error of a write whose attempts `attempts` watched: ambiguous also when
    /// an earlier attempt may have been applied and a later one then failed definitely (the
    /// SDK reports only the last attempt's error).
    pub fn from_write<E, R>(
        operation: &'static str,
        err: &SdkError<E, R>,
        attempts: &WriteAttempts,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + HasStatus + 'static,
    {
        let mut reduced = Self::from_sdk(operation, err);
        reduced.ambiguous |= reduced.credentials.is_none() && attempts.may_have_applied();
        reduced
    }
}

/// The message of a credentials-provider failure anywhere in the error's cause chain.
fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(creds) =
            e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            let mut text = creds.to_string();
            let mut source = std::error::Error::source(creds);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            return Some(text);
        }
        current = e.source();
    }
    None
}

/// Lets [`AwsError::from_sdk`] read the status of whatever raw response type an SDK uses.
pub trait HasStatus {
    /// The HTTP status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
