//! The MCP server (Model Context Protocol): honestcam's data for an assistant, read
//! only.
//!
//! One handler, [`McpServer`], serves both transports: stdio for an assistant on the
//! same machine (`honestcam mcp`, [`serve_stdio`]), and Streamable HTTP at `/mcp` in
//! `honestcam serve` ([`http_service`]), behind the portal's guard and
//! authentication. Its tools (`tools.rs`) each have a JSON schema, a description an
//! assistant can act on and `readOnlyHint: true`; none writes.
//!
//! **It cannot write.** The server reads through a [`Storage`] opened read-only
//! ([`Storage::open_read_only`]): every SQLite connection is opened
//! `SQLITE_OPEN_READ_ONLY` with `query_only` on, so a write fails in SQLite whatever
//! the code above asks; no database is created or migrated (one that needs it is
//! answered with the command that brings it up to date), and storage refuses a
//! write to the legacy JSON files before it starts.
//!
//! **Who calls.** Over HTTP the caller is the identity the portal's authentication
//! established for the request (an API token, read-only ones included, or an Access
//! identity), read from the request's parts that rmcp hands to the handler; over
//! stdio it is the operator of the machine, [`LOCAL_OPERATOR`]. Every tool call is
//! logged with its caller, the tool and its arguments (cut at
//! [`LOGGED_ARGUMENT_CHARS`]).
//!
//! **Bounds.** A request is at most [`MAX_REQUEST_BYTES`] (an HTTP body, a stdio
//! line); an answer at most [`tools::MAX_RESULT_BYTES`] of JSON, lists paged. Over
//! HTTP the server is stateless (no session is kept between requests) and answers
//! JSON, so it holds nothing per client.

pub mod tools;

use std::sync::Arc;

use jiff::tz::TimeZone;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use statekit::error::Chain;

use crate::domain::{Identity, Role};
use crate::service::snapshot::Snapshots;
use crate::storage::Storage;
use tools::{Reads, ToolError};

/// Where `honestcam serve` mounts the server (see [`http_service`]).
pub const MCP_PATH: &str = "/mcp";
/// The identity of every call over stdio: whoever runs `honestcam mcp` on the machine.
pub const LOCAL_OPERATOR: &str = "local";
/// Most bytes of one request: an HTTP body, a line on stdin.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most characters of a call's arguments written to the log.
pub const LOGGED_ARGUMENT_CHARS: usize = 300;
/// Most properties whose state the server keeps between calls.
pub const SNAPSHOTS_KEPT: usize = 16;

/// What the assistant is told the server is for.
const INSTRUCTIONS: &str = "honestcam keeps property-compliance records: each property has \
actions (obligations such as a fire-safety check) with a status, a due date, an assignee, \
notes, and a history of who changed what and when. Everything here is read only. Start \
with list_properties for the slugs; property_summary shows what needs attention first; \
get_action gives one action's state and history; search finds words in titles, notes and \
assignees; compliance_as_of shows a past day; events_since is the change feed for keeping \
an index in step. Long lists are paged: pass the answer's next_offset as offset (or \
next_cursor as cursor).";

/// Where a call comes from.
#[derive(Debug, Clone)]
enum Transport {
    /// `honestcam mcp`: the operator of the machine.
    Stdio(Identity),
    /// `/mcp`: the identity the portal's authentication put in the request.
    Http,
}

/// What every copy of the handler shares.
#[derive(Debug)]
struct Shared {
    storage: Storage,
    snapshots: Snapshots,
    time_zone: TimeZone,
}

/// The MCP server: the tools over read-only storage. Cheap to clone (the HTTP
/// service makes one per request).
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    transport: Transport,
    tool_router: ToolRouter<McpServer>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("shared", &self.shared)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Why a storage the server was given may not serve it.
#[derive(Debug, thiserror::Error)]
#[error("the MCP server reads only through storage opened read-only (Storage::open_read_only)")]
pub struct NotReadOnly;

impl McpServer {
    fn new(
        storage: Storage,
        time_zone: TimeZone,
        transport: Transport,
    ) -> Result<Self, NotReadOnly> {
        if !storage.is_read_only() {
            return Err(NotReadOnly);
        }
        Ok(McpServer {
            shared: Arc::new(Shared {
                storage,
                snapshots: Snapshots::with_capacity(SNAPSHOTS_KEPT),
                time_zone,
            }),
            transport,
            tool_router: Self::tool_router(),
        })
    }

    /// The server for `honestcam mcp`: every call is the machine's operator
    /// ([`LOCAL_OPERATOR`]). `storage` must be opened read-only; "today" is reckoned
    /// in `time_zone`.
    pub fn stdio(storage: Storage, time_zone: TimeZone) -> Result<Self, NotReadOnly> {
        let operator = Identity::new(LOCAL_OPERATOR, Role::Viewer);
        McpServer::new(storage, time_zone, Transport::Stdio(operator))
    }

    /// The server for `/mcp`: every call is the identity the portal's authentication
    /// established for its request. `storage` must be opened read-only.
    pub fn http(storage: Storage, time_zone: TimeZone) -> Result<Self, NotReadOnly> {
        McpServer::new(storage, time_zone, Transport::Http)
    }

    /// The storage it reads through.
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// Who made the call in `context`, if anyone is known.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Option<Identity> {
        match &self.transport {
            Transport::Stdio(operator) => Some(operator.clone()),
            Transport::Http => context
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Identity>())
                .cloned(),
        }
    }

    /// Runs `answer` on the blocking pool over the shared storage, and makes its
    /// outcome the tool's result: the JSON, or the error as the assistant is told it
    /// (the detail of a server failure logged).
    async fn answer(
        &self,
        tool: &'static str,
        answer: impl FnOnce(&Reads<'_>) -> Result<String, ToolError> + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let shared = Arc::clone(&self.shared);
        let outcome = tokio::task::spawn_blocking(move || {
            let today = jiff::Timestamp::now()
                .to_zoned(shared.time_zone.clone())
                .date();
            let reads = Reads {
                storage: &shared.storage,
                snapshots: &shared.snapshots,
                today,
                time_zone: &shared.time_zone,
            };
            answer(&reads)
        })
        .await
        .map_err(|e| {
            tracing::error!(tool, "mcp: the tool's task failed: {}", Chain(&e));
            ErrorData::internal_error("the tool failed on the server", None)
        })?;
        Ok(match outcome {
            Ok(json) => CallToolResult::success(vec![ContentBlock::text(json)]),
            Err(e) => {
                if e.is_internal() {
                    tracing::error!(tool, "mcp: {}", Chain(&e));
                } else {
                    tracing::info!(tool, "mcp: refused: {}", Chain(&e));
                }
                CallToolResult::error(vec![ContentBlock::text(e.shown())])
            }
        })
    }
}

/// The arguments of a call as logged: their JSON, cut at [`LOGGED_ARGUMENT_CHARS`].
fn logged_arguments(request: &CallToolRequestParams) -> String {
    let text = request.arguments.as_ref().map_or_else(
        || "{}".to_string(),
        |a| serde_json::Value::Object(a.clone()).to_string(),
    );
    crate::domain::text::shortened(&text, LOGGED_ARGUMENT_CHARS)
}

#[tool_router]
impl McpServer {
    /// Every property in the data dir, a page at a time in slug order: its slug (the
    /// `property` argument of the other tools), its name, how many actions it has by
    /// status, and how many are overdue or due within 14 days. Start here.
    #[tool(
        name = "list_properties",
        annotations(
            title = "List properties",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_properties(
        &self,
        Parameters(args): Parameters<tools::ListProperties>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("list_properties", move |r| tools::list_properties(r, &args))
            .await
    }

    /// What needs attention at one property: its counts, and its actions in the
    /// urgency groups of its page, most urgent first: overdue (active and past due),
    /// due-soon (due within 14 days), open, blocked, closed (done or waived). Each
    /// action comes with its status, due date, assignee, last change and latest notes.
    /// Give `group` (and `offset`) to page through one group.
    #[tool(
        name = "property_summary",
        annotations(
            title = "Property summary",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn property_summary(
        &self,
        Parameters(args): Parameters<tools::PropertySummary>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("property_summary", move |r| {
            tools::property_summary(r, &args)
        })
        .await
    }

    /// One action: its current state (status, due date, assignee, urgency, last
    /// change) and its full history, newest first: each event with who made it
    /// (`actor`), when (`at`, UTC) and what it changed (status, assignee or due date
    /// from what to what, or a note's text). Use it for "who changed X, and when?".
    #[tool(
        name = "get_action",
        annotations(
            title = "Get an action and its history",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_action(
        &self,
        Parameters(args): Parameters<tools::GetAction>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("get_action", move |r| tools::get_action(r, &args))
            .await
    }

    /// Full-text search in one property's action titles, notes and assignees, best
    /// first: each hit with the text around the words found (between `**`), the
    /// action (id and title), and the event that wrote it (who, when, its position).
    /// Every word must match; the exact phrase ranks first. Use it for "which action
    /// mentions the boiler?" or "what did Maria write about the fire exit?".
    #[tool(
        name = "search",
        annotations(
            title = "Search a property",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn search(
        &self,
        Parameters(args): Parameters<tools::Search>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("search", move |r| tools::search(r, &args))
            .await
    }

    /// Every action of one property as it stood at a past moment, folded from the log:
    /// at the end of a day (`YYYY-MM-DD`, in the server's time zone) or at an instant
    /// (RFC 3339). With the counts of that day: how many were overdue or due soon then.
    /// Use it for "were we compliant on the day of the inspection?".
    #[tool(
        name = "compliance_as_of",
        annotations(
            title = "Compliance as of a day",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn compliance_as_of(
        &self,
        Parameters(args): Parameters<tools::ComplianceAsOf>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("compliance_as_of", move |r| {
            tools::compliance_as_of(r, &args)
        })
        .await
    }

    /// The change feed: every event of every property after `cursor`, each exactly
    /// once and oldest first per property, each standing alone (the property, the
    /// action and its title, the event with who and when, the action's state after
    /// it), and `next_cursor` to resume from. Start without a cursor; keep the last
    /// `next_cursor` to ask "what changed since?" later. `more` says whether to ask
    /// again now.
    #[tool(
        name = "events_since",
        annotations(
            title = "Changes since a cursor",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn events_since(
        &self,
        Parameters(args): Parameters<tools::EventsSince>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer("events_since", move |r| tools::events_since(r, &args))
            .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("honestcam", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(caller) = self.caller(&context) else {
            // A route without authentication: a mistake in the router, never served.
            tracing::error!(tool = %request.name, "mcp: a tool call without a caller");
            return Err(ErrorData::internal_error("no caller: refused", None));
        };
        tracing::info!(
            caller = %caller.name,
            transport = match self.transport {
                Transport::Stdio(_) => "stdio",
                Transport::Http => "http",
            },
            tool = %crate::domain::text::shortened(&request.name, 64),
            arguments = %logged_arguments(&request),
            "mcp tool call"
        );
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }
}

/// Why the stdio server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The MCP handshake did not complete.
    #[error("cannot start the MCP session on stdio")]
    Start(#[from] Box<rmcp::service::ServerInitializeError>),
    /// The session ended abnormally.
    #[error("the MCP session on stdio ended abnormally")]
    Run(#[from] tokio::task::JoinError),
}

/// Serves `server` on this process's stdin and stdout until the client closes stdin.
/// A line longer than [`MAX_REQUEST_BYTES`] is dropped (and answered with an error).
pub async fn serve_stdio(server: McpServer) -> Result<(), StdioError> {
    let transport = rmcp::transport::async_rw::AsyncRwTransport::new_server(
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .with_max_line_length(MAX_REQUEST_BYTES);
    let running = server.serve(transport).await.map_err(Box::new)?;
    running.waiting().await?;
    Ok(())
}

/// The Streamable HTTP service of `server`, to mount at `/mcp` behind the portal's
/// guard and authentication. Stateless (no session is kept: every POST carries a
/// whole request), answering JSON; bodies above [`MAX_REQUEST_BYTES`] are refused
/// (413). rmcp's own `Host` check is off: the portal's guard, in front of every
/// route, checks the `Host` against the public URL and the listening address.
pub fn http_service(server: McpServer) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .disable_allowed_hosts();
    StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config)
}
