use crate::kit::{TestServer, day, options, payload, school_code, violated_fields, violated_rule};
use plg_proto::v1;
use tonic::Code;

#[tokio::test]
async fn a_school_is_registered_once_per_country_and_code() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let request = v1::RegisterSchoolRequest {
        options: options(),
        name: "Het Baken".into(),
        country: v1::Country::Nl.into(),
        sector: v1::Sector::Secondary.into(),
        school_code: school_code().to_lowercase(),
        board: String::new(),
    };
    let registered = clients
        .registry
        .register_school(request.clone())
        .await?
        .into_inner();
    let result = registered.result.expect("write result");
    assert_eq!(result.stream, format!("school-{}", registered.school_id));
    assert_eq!(result.revision, 0);
    assert!(!result.replayed);

    let events = clients.read_stream(&result.stream).await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "SchoolRegistered");
    let data = payload(&events[0])?;
    assert_eq!(data["school_code"], request.school_code.to_uppercase());
    assert_eq!(data["country"], "NL");
    assert!(
        data["board"].is_null(),
        "an empty board is recorded as absent"
    );

    let again = clients
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options(),
            ..request
        })
        .await;
    assert_eq!(again.expect_err("duplicate").code(), Code::AlreadyExists);
    assert_eq!(clients.read_stream(&result.stream).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn invalid_schools_are_refused_field_by_field_and_nothing_is_written() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let before = clients.last_position().await?;
    let status = clients
        .registry
        .register_school(v1::RegisterSchoolRequest {
            options: options(),
            name: "  ".into(),
            country: v1::Country::Be.into(),
            sector: v1::Sector::Unspecified.into(),
            school_code: "12AB".into(),
            board: String::new(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["name", "sector", "school_code"]);
    assert_eq!(clients.last_position().await?, before);
    Ok(())
}

#[tokio::test]
async fn a_study_has_waves_and_starts_with_the_built_in_instrument() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let study_id = clients.define_study().await?;

    let instrument = clients
        .registry
        .get_instrument(v1::GetInstrumentRequest {
            study_id: study_id.clone(),
            version: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(instrument.version, "scan-school-als-plg/1");
    assert_eq!(instrument.items.len(), 36);
    let built_in = clients
        .registry
        .get_instrument(v1::GetInstrumentRequest::default())
        .await?
        .into_inner();
    assert_eq!(built_in, instrument);

    let events = clients.read_stream(&format!("study-{study_id}")).await?;
    let data = payload(&events[0])?;
    assert_eq!(data["waves"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        data["instrument"]["items"].as_array().map(Vec::len),
        Some(36)
    );
    Ok(())
}

#[tokio::test]
async fn invalid_waves_and_settings_are_named_by_field() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let status = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "Study".into(),
            description: String::new(),
            waves: vec![
                v1::Wave {
                    label: "T1".into(),
                    opens_on: day(0),
                    closes_on: day(10),
                },
                v1::Wave {
                    label: "T2".into(),
                    opens_on: day(10),
                    closes_on: day(5),
                },
                v1::Wave {
                    label: "T 3".into(),
                    opens_on: "next week".into(),
                    closes_on: day(5),
                },
            ],
            min_group_size: Some(2),
            identify_schools: false,
        })
        .await
        .expect_err("invalid waves");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "waves[1].closes_on",
            "waves[2].label",
            "waves[2].opens_on",
            "min_group_size"
        ]
    );

    let empty = clients
        .registry
        .define_study(v1::DefineStudyRequest {
            options: options(),
            title: "Study".into(),
            ..Default::default()
        })
        .await
        .expect_err("no waves");
    assert_eq!(violated_fields(&empty), ["waves"]);
    Ok(())
}

#[tokio::test]
async fn a_study_registers_its_own_instrument_version() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let study_id = clients.define_study().await?;
    let item = |code: &str, dimension: v1::Dimension| v1::InstrumentItem {
        code: code.into(),
        dimension: dimension.into(),
        text: "an item".into(),
    };
    clients
        .registry
        .register_instrument(v1::RegisterInstrumentRequest {
            options: options(),
            study_id: study_id.clone(),
            version: "kohnstamm/2016".into(),
            items: vec![
                item("S1", v1::Dimension::Support),
                item("H1", v1::Dimension::HrPolicy),
            ],
        })
        .await?;
    let current = clients
        .registry
        .get_instrument(v1::GetInstrumentRequest {
            study_id: study_id.clone(),
            version: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(current.version, "kohnstamm/2016");
    assert_eq!(current.items.len(), 2);

    let invalid = clients
        .registry
        .register_instrument(v1::RegisterInstrumentRequest {
            options: options(),
            study_id: study_id.clone(),
            version: "kohnstamm/2017".into(),
            items: vec![
                item("S1", v1::Dimension::Unspecified),
                item("S1", v1::Dimension::Support),
                item("S1", v1::Dimension::Support),
            ],
        })
        .await
        .expect_err("invalid items");
    assert_eq!(violated_fields(&invalid), ["items[0].dimension"]);
    let duplicate = clients
        .registry
        .register_instrument(v1::RegisterInstrumentRequest {
            options: options(),
            study_id: study_id.clone(),
            version: "kohnstamm/2017".into(),
            items: vec![
                item("S1", v1::Dimension::Support),
                item("S1", v1::Dimension::Support),
            ],
        })
        .await
        .expect_err("duplicate codes");
    assert_eq!(violated_fields(&duplicate), ["items"]);
    let existing = clients
        .registry
        .register_instrument(v1::RegisterInstrumentRequest {
            options: options(),
            study_id: study_id.clone(),
            version: "kohnstamm/2016".into(),
            items: vec![item("S1", v1::Dimension::Support)],
        })
        .await
        .expect_err("version exists");
    assert_eq!(existing.code(), Code::FailedPrecondition);
    assert_eq!(
        clients.event_types(&format!("study-{study_id}")).await?,
        ["StudyDefined", "InstrumentRegistered"]
    );
    Ok(())
}

#[tokio::test]
async fn enrolment_needs_a_known_study_and_school_and_happens_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let (study_id, school_id) = clients.enrolled_school().await?;
    let unknown = "00000000-0000-4000-8000-000000000000".to_owned();

    for (study, school) in [
        (unknown.clone(), school_id.clone()),
        (study_id.clone(), unknown.clone()),
    ] {
        let status = clients
            .registry
            .enrol_school(v1::EnrolSchoolRequest {
                options: options(),
                study_id: study,
                school_id: school,
            })
            .await
            .expect_err("unknown");
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    let twice = clients
        .registry
        .enrol_school(v1::EnrolSchoolRequest {
            options: options(),
            study_id: study_id.clone(),
            school_id,
        })
        .await
        .expect_err("enrolled already");
    assert_eq!(twice.code(), Code::AlreadyExists);
    let malformed = clients
        .registry
        .enrol_school(v1::EnrolSchoolRequest {
            options: options(),
            study_id: "study-1".into(),
            school_id: String::new(),
        })
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&malformed), ["study_id", "school_id"]);
    assert_eq!(
        clients.event_types(&format!("study-{study_id}")).await?,
        ["StudyDefined", "SchoolEnrolled"]
    );
    Ok(())
}

#[tokio::test]
async fn a_closed_wave_is_released_once_and_bad_releases_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    // T0 closed 300 days ago; T1 is open.
    let study_id = clients.define_study().await?;
    let release = |study_id: &str, wave: &str| v1::ReleaseWaveRequest {
        options: options(),
        study_id: study_id.into(),
        wave: wave.into(),
    };
    let before = clients.last_position().await?;
    for (request, code, detail) in [
        (release("x", ""), Code::InvalidArgument, "study_id wave"),
        (release(&study_id, "T9"), Code::InvalidArgument, "wave"),
        (
            release("00000000-0000-4000-8000-000000000000", "T0"),
            Code::NotFound,
            "",
        ),
        (
            release(&study_id, "T1"),
            Code::FailedPrecondition,
            "wave_not_closed",
        ),
    ] {
        let status = clients
            .registry
            .release_wave(request)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), code, "{status:?}");
        match code {
            Code::InvalidArgument => assert_eq!(violated_fields(&status).join(" "), detail),
            Code::FailedPrecondition => {
                assert_eq!(violated_rule(&status).as_deref(), Some(detail))
            }
            _ => {}
        }
    }
    assert_eq!(
        clients.last_position().await?,
        before,
        "a refusal writes nothing"
    );

    let request = release(&study_id, "T0");
    let released = clients
        .registry
        .release_wave(request.clone())
        .await?
        .into_inner();
    let result = released.result.expect("write result");
    let events = clients.read_stream(&result.stream).await?;
    let data = payload(events.last().expect("the release"))?;
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("WaveReleased")
    );
    assert_eq!(
        (data["wave"].as_str(), data["released_on"].as_str()),
        (Some("T0"), Some(day(0).as_str()))
    );
    // A retry replays; a second release is refused.
    let retried = clients.registry.release_wave(request).await?.into_inner();
    assert!(
        retried
            .result
            .is_some_and(|r| r.replayed && r.position == result.position)
    );
    let again = clients
        .registry
        .release_wave(release(&study_id, "T0"))
        .await
        .expect_err("released");
    assert_eq!(violated_rule(&again).as_deref(), Some("wave_released"));
    Ok(())
}

#[tokio::test]
async fn a_person_gets_an_opaque_id_and_personal_data_stays_in_their_own_stream()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let mut clients = server.clients().await?;
    let registered = clients
        .registry
        .register_person(v1::RegisterPersonRequest {
            options: options(),
            name: "Anna de Vries".into(),
            email: "a.devries@example.org".into(),
        })
        .await?
        .into_inner();
    let events = clients
        .read_stream(&format!("person-{}", registered.person_id))
        .await?;
    assert_eq!(
        payload(&events[0])?["details"]["personal"]["revealed"]["name"],
        "Anna de Vries"
    );

    let school_id = clients.register_school().await?;
    clients
        .form_plg(&school_id, std::slice::from_ref(&registered.person_id))
        .await?;
    let (_, log) = server.administrator().await?.read_all().await?;
    let mentions: Vec<_> = log
        .iter()
        .filter(|event| event.data_json.contains("Anna") || event.data_json.contains("devries"))
        .map(|event| event.stream.clone())
        .collect();
    assert_eq!(mentions, [format!("person-{}", registered.person_id)]);

    let invalid = clients
        .registry
        .register_person(v1::RegisterPersonRequest {
            options: options(),
            name: String::new(),
            email: "not-an-email".into(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(violated_fields(&invalid), ["name", "email"]);
    Ok(())
}
