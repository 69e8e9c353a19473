//! Which role may call each RPC: one table for reads and writes alike, checked by the
//! authentication layer before any service sees the request. An RPC missing from the table is
//! refused, so a new one cannot be served without a decision here.

use plg_domain::access::Role;

const PARTNER_TOOL: &[Role] = &[Role::PartnerTool];
const RESEARCHER: &[Role] = &[Role::Researcher];
const ADMINISTRATOR: &[Role] = &[Role::Administrator];
const OPERATOR: &[Role] = &[Role::Operator];
/// Partner tools read back their own writes; administrators whose scope is everything read
/// the whole log (the service narrows it by scope).
const EVENT_LOG: &[Role] = &[Role::PartnerTool, Role::Administrator];
/// Reference data every key may read: the scan instrument's items.
const ANY_ROLE: &[Role] = &[
    Role::PartnerTool,
    Role::Researcher,
    Role::Administrator,
    Role::Operator,
];

/// Every RPC of `plg.v1`, by service and method, with the roles that may call it.
const RPCS: &[(&str, &str, &[Role])] = &[
    ("RegistryService", "RegisterSchool", PARTNER_TOOL),
    ("RegistryService", "DefineStudy", PARTNER_TOOL),
    ("RegistryService", "RegisterInstrument", PARTNER_TOOL),
    ("RegistryService", "EnrolSchool", PARTNER_TOOL),
    ("RegistryService", "ReleaseWave", PARTNER_TOOL),
    ("RegistryService", "RegisterPerson", PARTNER_TOOL),
    ("RegistryService", "ErasePersonalData", ADMINISTRATOR),
    ("RegistryService", "GetInstrument", ANY_ROLE),
    ("ScanService", "SubmitScan", PARTNER_TOOL),
    ("ScanService", "RetractScan", PARTNER_TOOL),
    ("ScanService", "WithdrawConsent", PARTNER_TOOL),
    ("ScanService", "ImportScans", PARTNER_TOOL),
    ("InterventionService", "LogIntervention", PARTNER_TOOL),
    ("InterventionService", "StartIntervention", PARTNER_TOOL),
    ("InterventionService", "CompleteIntervention", PARTNER_TOOL),
    ("InterventionService", "AbandonIntervention", PARTNER_TOOL),
    ("InterventionService", "AssessContribution", PARTNER_TOOL),
    ("InterventionService", "ReviseDevelopmentPlan", PARTNER_TOOL),
    (
        "InterventionService",
        "RecordReflectionConversation",
        PARTNER_TOOL,
    ),
    ("SessionService", "FormPlg", PARTNER_TOOL),
    ("SessionService", "RefineLearningQuestion", PARTNER_TOOL),
    ("SessionService", "AddMember", PARTNER_TOOL),
    ("SessionService", "RemoveMember", PARTNER_TOOL),
    ("SessionService", "RecordPhase", PARTNER_TOOL),
    ("SessionService", "HoldSession", PARTNER_TOOL),
    ("SessionService", "DissolvePlg", PARTNER_TOOL),
    ("CoachingService", "AssignCoach", PARTNER_TOOL),
    ("CoachingService", "HandOverCoaching", PARTNER_TOOL),
    ("EventLogService", "ReadStream", EVENT_LOG),
    ("EventLogService", "ReadAll", EVENT_LOG),
    ("ResearchService", "GetSchoolTimeline", RESEARCHER),
    ("ResearchService", "GetWaveScores", RESEARCHER),
    ("ResearchService", "GetGrowth", RESEARCHER),
    ("ResearchService", "GetRelations", RESEARCHER),
    ("ResearchService", "GetInterventionImpact", RESEARCHER),
    ("ResearchService", "GetReliability", RESEARCHER),
    ("ResearchService", "GetPlgActivity", RESEARCHER),
    ("ResearchService", "RenderSpiderChart", RESEARCHER),
    ("ResearchService", "ExportStudy", RESEARCHER),
    ("AuditService", "GetSchoolHistory", ADMINISTRATOR),
    ("AuditService", "VerifySchoolHistory", ADMINISTRATOR),
    ("AuditService", "GetSchoolStateAt", ADMINISTRATOR),
    ("AuditService", "VerifyStore", ADMINISTRATOR),
    ("AdminService", "IssueApiKey", OPERATOR),
    ("AdminService", "ChangeApiKeyScope", OPERATOR),
    ("AdminService", "RevokeApiKey", OPERATOR),
    ("AdminService", "ListApiKeys", OPERATOR),
];

/// The package every RPC path starts with: `/plg.v1.<Service>/<Method>`.
const PACKAGE: &str = "plg.v1";

/// The roles that may call the RPC at `path`; `None` for a path the table does not list.
pub fn roles(path: &str) -> Option<&'static [Role]> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let service = service.strip_prefix(PACKAGE)?.strip_prefix('.')?;
    RPCS.iter()
        .find(|(listed_service, listed_method, _)| {
            *listed_service == service && *listed_method == method
        })
        .map(|(_, _, roles)| *roles)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_types::FileDescriptorSet;

    use super::*;

    /// Every method the contract declares, as `/plg.v1.<Service>/<Method>`.
    fn declared() -> Vec<String> {
        let set = FileDescriptorSet::decode(plg_proto::FILE_DESCRIPTOR_SET).expect("decodes");
        set.file
            .iter()
            .filter(|file| file.package() == PACKAGE)
            .flat_map(|file| &file.service)
            .flat_map(|service| {
                service
                    .method
                    .iter()
                    .map(|method| format!("/{PACKAGE}.{}/{}", service.name(), method.name()))
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_the_contract_has_its_roles_and_the_table_lists_nothing_else() {
        let declared = declared();
        for path in &declared {
            assert!(roles(path).is_some(), "{path} is missing from the table");
        }
        assert_eq!(
            declared.len(),
            RPCS.len(),
            "the table lists an RPC the contract lacks"
        );
    }

    #[test]
    fn paths_outside_the_contract_have_no_roles() {
        for path in [
            "",
            "/plg.v1.ScanService",
            "/plg.v2.ScanService/SubmitScan",
            "/plg.v1.ScanService/Unknown",
            "/grpc.health.v1.Health/Check",
        ] {
            assert_eq!(roles(path), None, "{path}");
        }
    }
}
