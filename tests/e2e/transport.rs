//! TLS on the gRPC listener, from the configured certificate and key.

use plg_proto::v1;
use plg_runtime::config::TlsConfig;
use plg_testkit::{Clients, Identity, TestServer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

#[tokio::test]
async fn with_a_certificate_configured_the_listener_speaks_only_tls() -> anyhow::Result<()> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let certs = tempfile::tempdir()?;
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let server =
        TestServer::start_with(tempfile::tempdir()?, |config| plg_runtime::config::Config {
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
