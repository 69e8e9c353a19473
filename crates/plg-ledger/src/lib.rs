//! The write core: a caller's command becomes events in the log, idempotently, within the
//! caller's scope, decided by the pure domain. It knows no wire type, so gRPC, a CLI or an
//! importer drive it alike.
