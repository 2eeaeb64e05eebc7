//! The route table, in one place: which resource a path names, which methods it takes (405
//! otherwise, 404 for any other path), and which module serves it. Routes are matched here
//! rather than trusted from the gateway, so the same code serves the explicit routes on AWS and
//! the local stack alike.

use jobcast_shared::ids::UserId;
use jobcast_shared::ports::{Pusher, UrlSigner};
use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt as _, Response};

use crate::error::ApiError;
use crate::handler::{ApiStore, Deps};
use crate::routes::{create, list, result, status};

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    ListJobs,
    CreateJob,
    GetJob(String),
    GetResult(String),
}

/// The resource a path names, before the method is considered.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    Jobs,
    Job(String),
    Result(String),
}

/// Matches a request to a route. Behind the gateway, its route key and decoded `{id}` decide:
/// an id may hold characters (`?`, `/`) that change a path's meaning. Otherwise the path does,
/// skipping any stage prefix before `/jobs`. Unknown paths arrive through `$default`.
pub(crate) fn route(request: &Request) -> Result<Route, ApiError> {
    let method = request.method();
    let path = request.uri().path();
    let no_route = || ApiError::NoRoute { method: method.clone(), path: path.to_owned() };
    let route_key = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        _ => None,
    };
    let resource = match request.path_parameters().first("id") {
        Some(id) if route_key.as_deref().map_or(path.ends_with("/result"), |k| k.ends_with("/result")) => {
            Resource::Result(id.to_owned())
        }
        Some(id) => Resource::Job(id.to_owned()),
        None => {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let at = segments.iter().position(|s| *s == "jobs").ok_or_else(no_route)?;
            match &segments[at + 1..] {
                [] => Resource::Jobs,
                [id] => Resource::Job((*id).to_owned()),
                [id, "result"] => Resource::Result((*id).to_owned()),
                _ => return Err(no_route()),
            }
        }
    };
    let not_allowed = |allow| ApiError::MethodNotAllowed { method: method.clone(), allow };
    match (resource, method) {
        (Resource::Jobs, &Method::GET) => Ok(Route::ListJobs),
        (Resource::Jobs, &Method::POST) => Ok(Route::CreateJob),
        (Resource::Jobs, _) => Err(not_allowed("GET, POST")),
        (Resource::Job(id), &Method::GET) => Ok(Route::GetJob(id)),
        (Resource::Result(id), &Method::GET) => Ok(Route::GetResult(id)),
        (Resource::Job(_) | Resource::Result(_), _) => Err(not_allowed("GET")),
    }
}

impl Route {
    /// Serves the route for a caller already verified.
    pub(crate) async fn serve<S, U, P>(
        self,
        deps: &Deps<S, U, P>,
        user: &UserId,
        request: &Request,
    ) -> Result<Response<Body>, ApiError>
    where
        S: ApiStore,
        U: UrlSigner,
        P: Pusher,
    {
        match self {
            Route::ListJobs => list::list_jobs(deps, user, request).await,
            Route::CreateJob => create::create_job(deps, user, request.body()).await,
            Route::GetJob(id) => status::get_job(deps, user, &id, request.headers()).await,
            Route::GetResult(id) => result::get_result(deps, user, &id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{body_json, deps, send};
    use lambda_http::http::{StatusCode, header};

    #[tokio::test]
    async fn unknown_routes_are_json_404s_and_wrong_methods_405s() {
        let deps = deps([]);
        for (method, path, status) in [
            (Method::GET, "/", StatusCode::NOT_FOUND),
            (Method::GET, "/jobs/j1/x/y", StatusCode::NOT_FOUND),
            (Method::DELETE, "/jobs/j1", StatusCode::METHOD_NOT_ALLOWED),
            (Method::TRACE, "/jobs", StatusCode::METHOD_NOT_ALLOWED),
        ] {
            let request =
                lambda_http::http::Request::builder().method(method.clone()).uri(format!("https://api.example{path}"));
            let response = send(&deps, request).await;
            assert_eq!(response.status(), status, "{method} {path}");
            assert!(body_json(&response)["error"]["code"].is_string());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                let allow = response.headers()[header::ALLOW].to_str().expect("ascii");
                assert!(allow.starts_with("GET"), "{allow}");
            }
        }
    }

    fn routed(method: Method, path: &str, id: Option<&str>) -> Result<Route, ApiError> {
        let request: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example{path}"))
            .body(Body::Empty)
            .expect("request");
        let params: std::collections::HashMap<String, String> =
            id.map(|id| ("id".to_owned(), id.to_owned())).into_iter().collect();
        route(&request.with_path_parameters(params))
    }

    #[test]
    fn routes_tolerate_a_stage_prefix_and_prefer_the_gateways_path_parameter() {
        assert_eq!(routed(Method::GET, "/dev/jobs/j1", None).ok(), Some(Route::GetJob("j1".into())));
        assert_eq!(routed(Method::GET, "/jobs/", None).ok(), Some(Route::ListJobs));
        // A decoded `?` in the id must not turn the request into a list.
        assert_eq!(routed(Method::GET, "/jobs/", Some("?x")).ok(), Some(Route::GetJob("?x".into())));
        assert!(matches!(routed(Method::POST, "/jobs/j1", None), Err(ApiError::MethodNotAllowed { .. })));
    }
}
