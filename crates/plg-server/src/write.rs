//! The shape every write RPC shares: read the context, parse the request into a command,
//! execute it, convert the result.

use plg_contract::IntoCommand;
use plg_ledger::{CommandContext, Ledger, ServiceError};
use tonic::{Request, Response, Status};

use crate::{context::command_context, error::status};

/// Serves one write RPC through the write core.
pub async fn write<M: IntoCommand>(
    ledger: &Ledger,
    request: Request<M>,
) -> Result<Response<M::Reply>, Status> {
    let (context, message) = command_context(request).map_err(status)?;
    execute(ledger, &context, message)
        .await
        .map(Response::new)
        .map_err(status)
}

/// The write path of one write whose context is read: parse, execute, convert. Unary writes
/// and each write of a streaming call take it alike.
pub(crate) async fn execute<M: IntoCommand>(
    ledger: &Ledger,
    context: &CommandContext,
    message: M,
) -> Result<M::Reply, ServiceError> {
    let command = message.into_command(context);
    let written = ledger.execute(context, command).await?;
    M::reply(written)
}

/// Serves one read RPC: `reply` is its whole work; its error becomes a status here.
pub async fn read<R>(
    reply: impl Future<Output = Result<R, ServiceError>>,
) -> Result<Response<R>, Status> {
    reply.await.map(Response::new).map_err(status)
}
