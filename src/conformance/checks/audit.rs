//! §9's audit log as a partner checks it (signed heads, inclusion of its receipts,
//! consistency over time), and §6's health and reflection services.

use crate::conformance::kit::{check_status, fail, Case, Stop};
use crate::core::audit::verify_tree_head;
use crate::proto::v1::audit_client::AuditClient;
use crate::proto::v1::{
    ConsistencyProofRequest, InclusionProofRequest, SignedTreeHead, TreeHeadRequest,
};
use crate::render::refusal_line;
use tonic::Code;

async fn head(case: &Case) -> Result<SignedTreeHead, Stop> {
    AuditClient::new(case.partner().channel())
        .tree_head(TreeHeadRequest {})
        .await
        .map(|r| r.into_inner())
        .or_else(|s| fail(format!("TreeHead refused: {}", refusal_line(&s))))
}

pub(super) async fn tree_head(case: Case) -> Result<(), Stop> {
    case.file(&case.declaration()).await?;
    let head = head(&case).await?;
    verify_tree_head(&head, &case.kit().target, case.partner().trust())
        .map(|_| ())
        .or_else(|problem| fail(format!("tree head: {problem}")))
}

pub(super) async fn inclusion(case: Case) -> Result<(), Stop> {
    let (_, receipt) = case.file(&case.declaration()).await?;
    case.partner()
        .prove_receipt(&receipt)
        .await
        .map(|_| ())
        .or_else(|e| fail(format!("receipt at log index {}: {e}", receipt.log_index)))
}

pub(super) async fn consistency(case: Case) -> Result<(), Stop> {
    case.file(&case.declaration()).await?;
    let earlier = head(&case).await?;
    case.file(&case.declaration()).await?;
    case.file(&case.declaration()).await?;
    let later = head(&case).await?;
    verify_tree_head(&later, &case.kit().target, case.partner().trust())
        .or_else(|problem| fail(format!("later tree head: {problem}")))?;
    if later.tree_size <= earlier.tree_size {
        return fail(format!(
            "the log did not grow: size {} after three more declarations, {} before",
            later.tree_size, earlier.tree_size
        ));
    }
    case.partner()
        .check_extends(&earlier, &later)
        .await
        .or_else(|e| {
            fail(format!(
                "head of size {} to {}: {e}",
                earlier.tree_size, later.tree_size
            ))
        })
}

pub(super) async fn inclusion_out_of_range(case: Case) -> Result<(), Stop> {
    case.file(&case.declaration()).await?;
    let size = head(&case).await?.tree_size;
    let mut audit = AuditClient::new(case.partner().channel());
    for (request, code, reason) in [
        (
            InclusionProofRequest {
                leaf_index: size,
                tree_size: size,
            },
            Code::InvalidArgument,
            "LEAF_OUT_OF_RANGE",
        ),
        (
            InclusionProofRequest {
                leaf_index: 0,
                tree_size: size.saturating_add(1_000_000),
            },
            Code::OutOfRange,
            "TREE_SIZE_BEYOND_LOG",
        ),
    ] {
        let what = format!("leaf {} of size {}", request.leaf_index, request.tree_size);
        match audit.inclusion_proof(request).await {
            Ok(_) => return fail(format!("a proof for {what} (the log has {size} leaves)")),
            Err(status) => check_status(status, code, reason).map_err(|stop| stop.context(what))?,
        };
    }
    Ok(())
}

pub(super) async fn consistency_out_of_range(case: Case) -> Result<(), Stop> {
    case.file(&case.declaration()).await?;
    let size = head(&case).await?.tree_size;
    let mut audit = AuditClient::new(case.partner().channel());
    for (first, second, code, reason) in [
        (
            1,
            size + 1_000_000,
            Code::OutOfRange,
            "TREE_SIZE_BEYOND_LOG",
        ),
        (0, size, Code::InvalidArgument, "BAD_CONSISTENCY_RANGE"),
        (
            size,
            size.saturating_sub(1),
            Code::InvalidArgument,
            "BAD_CONSISTENCY_RANGE",
        ),
    ] {
        match audit
            .consistency_proof(ConsistencyProofRequest { first, second })
            .await
        {
            Ok(_) => {
                return fail(format!(
                    "a proof from {first} to {second} (the log has {size} leaves)"
                ))
            }
            Err(status) => check_status(status, code, reason)
                .map_err(|stop| stop.context(format_args!("from {first} to {second}")))?,
        };
    }
    Ok(())
}

async fn serving(case: &Case, service: &str) -> Result<(), Stop> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let answer = HealthClient::new(case.partner().channel())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .or_else(|s| {
            fail(format!(
                "Health.Check({service:?}) refused: {}",
                refusal_line(&s)
            ))
        })?
        .into_inner();
    if answer.status != ServingStatus::Serving as i32 {
        let name = ServingStatus::try_from(answer.status)
            .map(|s| s.as_str_name())
            .unwrap_or("unknown");
        return fail(format!("Health.Check({service:?}) is {name}, not SERVING"));
    }
    Ok(())
}

pub(super) async fn health(case: Case) -> Result<(), Stop> {
    serving(&case, "").await
}

pub(super) async fn health_per_service(case: Case) -> Result<(), Stop> {
    serving(&case, "aedgate.v1.Gateway").await?;
    serving(&case, "aedgate.v1.Audit").await
}

/// The services a reflection endpoint lists: `grpc.reflection.v1`, or `v1alpha` on a
/// server that offers only the older version (§6 says "server reflection", not which).
async fn reflected_services(case: &Case) -> Result<Vec<String>, Stop> {
    use tonic_reflection::pb::{v1, v1alpha};
    let channel = case.partner().channel();
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    match v1::server_reflection_client::ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
    {
        Ok(response) => {
            let answer = response
                .into_inner()
                .message()
                .await
                .or_else(|s| fail(format!("reflection failed: {}", refusal_line(&s))))?;
            match answer.and_then(|a| a.message_response) {
                Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(
                    list,
                )) => Ok(list.service.into_iter().map(|s| s.name).collect()),
                other => fail(format!("reflection answered {other:?} to ListServices")),
            }
        }
        Err(status) if status.code() == Code::Unimplemented => {
            let request = v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(
                    v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
                ),
            };
            let answer = v1alpha::server_reflection_client::ServerReflectionClient::new(channel)
                .server_reflection_info(tokio_stream::iter([request]))
                .await
                .or_else(|s| {
                    fail(format!(
                        "no server reflection (v1 or v1alpha): {}",
                        refusal_line(&s)
                    ))
                })?
                .into_inner()
                .message()
                .await
                .or_else(|s| fail(format!("reflection failed: {}", refusal_line(&s))))?;
            match answer.and_then(|a| a.message_response) {
                Some(
                    v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(
                        list,
                    ),
                ) => Ok(list.service.into_iter().map(|s| s.name).collect()),
                other => fail(format!("reflection answered {other:?} to ListServices")),
            }
        }
        Err(status) => fail(format!("reflection refused: {}", refusal_line(&status))),
    }
}

pub(super) async fn reflection(case: Case) -> Result<(), Stop> {
    let services = reflected_services(&case).await?;
    let missing: Vec<_> = [
        "aedgate.v1.Gateway",
        "aedgate.v1.Audit",
        "grpc.health.v1.Health",
    ]
    .into_iter()
    .filter(|name| !services.iter().any(|s| s == name))
    .collect();
    if !missing.is_empty() {
        return fail(format!(
            "reflection lists {services:?}, without {missing:?}"
        ));
    }
    Ok(())
}
