//! Bounds on what one request may make the server do and what an error reply carries: a
//! default tonic client (16 KiB of metadata at most) always gets the real status.

use crate::kit::{TestServer, day, options, violated_fields, violation_descriptions};
use plg_proto::v1;
use prost::bytes::{Buf, BufMut};
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataValue,
};

fn log(school_id: &str, categories: Vec<i32>) -> v1::LogInterventionRequest {
    v1::LogInterventionRequest {
        options: options(),
        school_id: school_id.into(),
        title: "Lesson study".into(),
        description: String::new(),
        categories,
        targets: Vec::new(),
        level: v1::InterventionLevel::Section.into(),
        starts_on: day(-60),
        planned_end_on: String::new(),
    }
}

#[tokio::test]
async fn a_very_long_stream_name_is_refused_without_echoing_all_of_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let status = clients
        .event_log
        .read_stream(v1::ReadStreamRequest {
            stream: "s".repeat(6_000),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), ["stream"]);
    let description = &violation_descriptions(&status)[0];
    assert!(description.len() < 100, "{description}");
    assert!(status.message().len() <= 512);
    Ok(())
}

#[tokio::test]
async fn repeated_categories_are_refused_in_a_reply_of_bounded_size() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let school_id = clients.register_school().await?;
    let before = clients.last_position().await?;
    let category = i32::from(v1::InterventionCategory::Professionalisation);

    // Within the limit, every repeat is a problem: the first 20 are listed, the rest counted.
    let status = clients
        .interventions
        .log_intervention(log(&school_id, vec![category; 100]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violated_fields(&status);
    assert_eq!(fields.len(), 21);
    assert_eq!(fields[0], "categories[1]");
    assert_eq!(
        violation_descriptions(&status)[20],
        "and 79 more violations not listed"
    );

    // Over the limit, the list is refused as a whole before any element is looked at.
    for count in [500, 1_000_000] {
        let status = clients
            .interventions
            .log_intervention(log(&school_id, vec![category; count]))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(violated_fields(&status), ["categories"]);
        assert_eq!(
            violation_descriptions(&status),
            [format!("must hold at most 100 elements, not {count}")]
        );
    }
    assert_eq!(clients.last_position().await?, before, "nothing written");
    Ok(())
}

/// Sends bytes as they are, to see what the server makes of a body that is not the message.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn an_undecodable_request_is_invalid_and_an_oversized_one_exhausts_a_resource()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let before = clients.last_position().await?;
    let authorization: MetadataValue<_> =
        format!("Bearer {}", server.partner_tool_key().await?).parse()?;
    let mut grpc = tonic::client::Grpc::new(server.channel().await?);
    let path = http::uri::PathAndQuery::from_static("/plg.v1.InterventionService/LogIntervention");
    // Wire type 7 does not exist; 5 MiB is over the 4 MiB a request may hold.
    for (body, code) in [
        (vec![0xff; 16], Code::InvalidArgument),
        (vec![0; 5 * 1024 * 1024], Code::ResourceExhausted),
    ] {
        let mut request = tonic::Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", authorization.clone());
        grpc.ready().await?;
        let status = grpc
            .unary(request, path.clone(), Raw)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
    }
    assert_eq!(clients.last_position().await?, before, "nothing written");
    Ok(())
}
