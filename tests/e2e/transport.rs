//! TLS on the gRPC listener, from the configured certificate and key, and reflection.

use crate::kit::{Clients, Identity, TestServer};
use plg_proto::v1;
use plg_server::config::TlsConfig;
use prost::Message as _;
use prost_types::FileDescriptorProto;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

#[tokio::test]
async fn with_a_certificate_configured_the_listener_speaks_only_tls() -> anyhow::Result<()> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let certs = tempfile::tempdir()?;
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let server =
        TestServer::start_with(tempfile::tempdir()?, |config| plg_server::config::Config {
            tls: Some(TlsConfig { cert, key }),
            ..config
        })
        .await?;
    let port = server.address().port();

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(generated.cert.pem()))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://localhost:{port}"))?
        .tls_config(tls)?
        .connect()
        .await?;
    let mut operator = Clients::new(channel, Identity::bearer(server.operator_key()?)?);
    let keys = operator
        .admin
        .list_api_keys(v1::ListApiKeysRequest {})
        .await?
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1, "the operator key, over TLS");

    // A client speaking plain text gets no gRPC answer, so keys never cross unencrypted.
    let plain = async {
        let mut plain = Clients::new(
            server.channel().await?,
            Identity::bearer(server.operator_key()?)?,
        );
        plain.admin.list_api_keys(v1::ListApiKeysRequest {}).await?;
        anyhow::Ok(())
    };
    assert!(plain.await.is_err());
    Ok(())
}

/// What a reflection client asks: the file defining a symbol, or a file by name.
enum Ask {
    Symbol(&'static str),
    File(String),
}

/// Asks both reflection versions and answers the files each returned, decoded.
async fn reflect_both(
    channel: tonic::transport::Channel,
    ask: &Ask,
) -> anyhow::Result<[Vec<FileDescriptorProto>; 2]> {
    macro_rules! reflect {
        ($version:ident) => {{
            use tonic_reflection::pb::$version::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };
            let message_request = match ask {
                Ask::Symbol(symbol) => MessageRequest::FileContainingSymbol((*symbol).to_owned()),
                Ask::File(name) => MessageRequest::FileByFilename(name.clone()),
            };
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(message_request),
            };
            let response = ServerReflectionClient::new(channel.clone())
                .server_reflection_info(futures::stream::iter([request]))
                .await?
                .into_inner()
                .message()
                .await?
                .and_then(|response| response.message_response);
            let Some(MessageResponse::FileDescriptorResponse(files)) = response else {
                anyhow::bail!("{} found no file: {response:?}", stringify!($version));
            };
            files
                .file_descriptor_proto
                .iter()
                .map(|file| FileDescriptorProto::decode(file.as_slice()))
                .collect::<Result<Vec<_>, _>>()?
        }};
    }
    Ok([reflect!(v1), reflect!(v1alpha)])
}

#[tokio::test]
async fn reflection_serves_the_error_details_so_clients_can_decode_them() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let channel = server.channel().await?;
    for (symbol, file, message) in [
        (
            "google.rpc.BadRequest",
            "google/rpc/error_details.proto",
            "BadRequest",
        ),
        (
            "google.rpc.ErrorInfo",
            "google/rpc/error_details.proto",
            "ErrorInfo",
        ),
        (
            "google.rpc.PreconditionFailure",
            "google/rpc/error_details.proto",
            "PreconditionFailure",
        ),
        (
            "google.rpc.ResourceInfo",
            "google/rpc/error_details.proto",
            "ResourceInfo",
        ),
        ("google.rpc.Status", "google/rpc/status.proto", "Status"),
    ] {
        for found in reflect_both(channel.clone(), &Ask::Symbol(symbol)).await? {
            let [defining] = found.as_slice() else {
                anyhow::bail!("{symbol}: expected one file, got {found:?}");
            };
            assert_eq!(defining.name(), file, "{symbol}");
            assert!(
                defining.message_type.iter().any(|m| m.name() == message),
                "{file} defines {message}"
            );
            // A client builds the file only once every import resolves too.
            for import in &defining.dependency {
                for found in reflect_both(channel.clone(), &Ask::File(import.clone())).await? {
                    assert_eq!(found.first().map(|f| f.name()), Some(import.as_str()));
                }
            }
        }
    }
    Ok(())
}
