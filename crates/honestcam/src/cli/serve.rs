//! `honestcam serve`.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use honestcam::config::DataDir;
use honestcam::ops::demo::{DemoOptions, write_demo};
use honestcam::ops::{NoProgress, Run, import::db_migrate};
use honestcam::property::Slug;
use honestcam::storage::Storage;
use honestcam::storage::Wait;
use honestcam::web::auth::LocalAuth;
use honestcam::web::auth::access::{AccessConfig, AccessVerifier};
use honestcam::web::{self, AppState, AuthMode, Site};

use super::{
    UsageError, display_zone, open_storage_bounded, open_storage_read_only, parse_slug,
    parse_time_zone,
};

/// The slug of the property `--demo` creates.
pub const DEMO_SLUG: &str = "demo-plaza";

/// Databases kept open by default (the study database among them). With the other
/// bounds below, the worst case stays within a 256-descriptor limit with room for
/// about 80 client connections: 16 databases x 5 descriptors, 12 storage threads x 7
/// (a second reader 2, the property's and the study database's locks 2 + 2, a file
/// being read 1), and the process's own 12.
pub const DEFAULT_MAX_OPEN_DATABASES: u64 = 16;

/// Client connections served at once by default. The worst case of the bounds above
/// (16 databases and 12 storage threads: about 176 descriptors) leaves about 80 of
/// 256; 64 connections, and the one more the accept loop may hold while it makes room,
/// stay within them with a margin.
pub const DEFAULT_MAX_OPEN_CONNECTIONS: u32 = 64;

/// Most threads running storage work at once (tokio's blocking pool).
pub const STORAGE_THREADS: usize = 12;

/// Readers a database keeps open while nobody reads (more open while reads run, up
/// to four per database, and close when handed back).
const IDLE_READERS: usize = 1;

/// Databases the MCP server at /mcp keeps open, opened read-only beside the portal's
/// (about 10 descriptors more while idle: the budget above leaves about 70 for client
/// connections then, still above the 64 + 1 they may take).
pub const MCP_MAX_OPEN_DATABASES: usize = 2;

/// Serve the portal: compliance pages, the study quiz, its admin page and the JSON API,
/// and the read-only MCP server at /mcp (Streamable HTTP, behind the same
/// authentication; see `honestcam mcp` for stdio).
///
/// / lists every property, the most urgent first. The bare routes (/compliance/,
/// /study/) show the default property: --property, else HONESTCAM_PROPERTY, else the
/// only property in the data dir. Every property is also under /p/{slug}/. Who may do what is decided by --auth (there is no default):
/// viewers read, editors change, admins also see every user's study progress; API
/// clients use `honestcam token create` tokens (Authorization: Bearer) in every mode.
/// Stops gracefully on SIGINT or SIGTERM, finishing requests in flight.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Default property for the bare routes.
    #[arg(long, env = "HONESTCAM_PROPERTY")]
    property: Option<String>,
    /// On first start, create a demo property (migrated to SQLite) so the portal has
    /// something to show.
    #[arg(long)]
    demo: bool,
    /// How requests are identified: cloudflare-access (behind Cloudflare Access; needs
    /// --access-team-domain and --access-aud), local (accounts with passwords, made with
    /// `honestcam user add NAME --role R --password-stdin`, signing in at /login), or
    /// none (everyone is an admin; only on a loopback address).
    #[arg(long, env = "HONESTCAM_AUTH", value_enum)]
    auth: AuthFlag,
    /// The Cloudflare Access team domain, e.g. https://myteam.cloudflareaccess.com.
    #[arg(long, env = "HONESTCAM_ACCESS_TEAM_DOMAIN", value_name = "URL")]
    access_team_domain: Option<String>,
    /// The Access application's AUD tag (Zero Trust dashboard, the application's
    /// overview).
    #[arg(long, env = "HONESTCAM_ACCESS_AUD", value_name = "TAG")]
    access_aud: Option<String>,
    /// Where Access's signing keys are fetched (default:
    /// {team domain}/cdn-cgi/access/certs).
    #[arg(long, env = "HONESTCAM_ACCESS_CERTS_URL", value_name = "URL")]
    access_certs_url: Option<String>,
    /// With --auth local: the request header in which a proxy on this host (cloudflared,
    /// a reverse proxy) passes the client's address, e.g. CF-Connecting-IP. Failed
    /// sign-ins are then counted per address it holds, instead of per TCP peer (behind
    /// a tunnel every peer is 127.0.0.1). Trusted only from a loopback peer, and only
    /// when it holds one IP address; otherwise the peer's address counts. Without this
    /// flag the header is ignored: set it only when that proxy always sets (or removes)
    /// the header, or clients could pick the address they are counted under.
    #[arg(long, env = "HONESTCAM_TRUSTED_PROXY_HEADER", value_name = "NAME")]
    trusted_proxy_header: Option<String>,
    /// With --auth local: hours a sign-in lasts.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=24 * 90))]
    session_hours: u64,
    /// The URL people open, when it is not the listening address (behind Cloudflare
    /// Tunnel or a proxy), e.g. https://portal.example.org. Requests for another host
    /// name, and writes posted from another site, are refused; with https, the sign-in
    /// cookie of --auth local is Secure. Required when listening on every address
    /// (0.0.0.0).
    #[arg(long, env = "HONESTCAM_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The time zone pages show times in, and in which "today" (for overdue and due
    /// soon) is reckoned: an IANA name such as Europe/London. Default: the host's.
    /// Stored times stay UTC.
    #[arg(long, env = "HONESTCAM_TIMEZONE", value_name = "IANA NAME", value_parser = parse_time_zone)]
    timezone: Option<jiff::tz::TimeZone>,
    /// Most databases kept open at once, the global study database among them (2 to
    /// 10000). Each open database holds 5 file descriptors when idle and at most one
    /// thread (which ends after 5 s without writes); when another must open, the least
    /// recently used one that no request is using is closed. A database in use is
    /// never closed, so up to 13 (12 storage threads' properties and the study
    /// database) may be open at once whatever the bound. The default, 16, keeps
    /// `serve` within 256 file descriptors (macOS launchd's default limit) with room
    /// for about 80 client connections.
    #[arg(
        long,
        env = "HONESTCAM_MAX_OPEN_DATABASES",
        value_name = "N",
        default_value_t = DEFAULT_MAX_OPEN_DATABASES,
        value_parser = clap::value_parser!(u64).range(2..=10_000)
    )]
    max_open_databases: u64,
    /// Seconds a client has to send a whole request head (1 to 300); a connection that
    /// has not is closed. Counted from the accept for a new connection, from the
    /// request's first byte on a kept-alive one.
    #[arg(
        long,
        env = "HONESTCAM_HEADER_READ_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=300)
    )]
    header_read_timeout: u64,
    /// Seconds a kept-alive connection may stay silent between requests before it is
    /// closed (1 to 3600).
    #[arg(
        long,
        env = "HONESTCAM_IDLE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    idle_timeout: u64,
    /// Most client connections open at once (1 to 10000). At the bound, the connection
    /// waiting longest for a request head is closed to make room; when every one is
    /// busy, new clients wait in the kernel's backlog. The default, 64, fits with 16
    /// open databases within 256 file descriptors (macOS launchd's default limit);
    /// raise both with the limit (deploy/ sets 4096).
    #[arg(
        long,
        env = "HONESTCAM_MAX_OPEN_CONNECTIONS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_OPEN_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    max_open_connections: u32,
    /// A file (mode 600) holding the bearer token that lets a scraper read /metrics
    /// from elsewhere than this machine (`Authorization: Bearer TOKEN`; 16 to 256
    /// printable characters, e.g. `openssl rand -hex 32`). Without it /metrics answers
    /// only requests made on this machine straight to the portal; every other request
    /// (through Cloudflare Tunnel too) gets 404.
    #[arg(long, env = "HONESTCAM_METRICS_TOKEN_FILE", value_name = "PATH")]
    metrics_token_file: Option<std::path::PathBuf>,
}

impl Args {
    fn conn_limits(&self) -> statekit::http::Limits {
        statekit::http::Limits {
            header_read: std::time::Duration::from_secs(self.header_read_timeout),
            idle: std::time::Duration::from_secs(self.idle_timeout),
            max_connections: self.max_open_connections,
        }
    }
}

/// `--auth` (also `doctor`'s, which checks the mode serve runs with).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum AuthFlag {
    /// Cloudflare Access in front: a valid Access token on every request.
    CloudflareAccess,
    /// Local accounts with passwords, signing in at /login.
    Local,
    /// No authentication: every request is an admin (loopback addresses only).
    None,
}

/// `--trusted-proxy-header`, checked to be a header name (empty is none).
fn trusted_proxy_header(args: &Args) -> anyhow::Result<Option<axum::http::HeaderName>> {
    match args.trusted_proxy_header.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) => match axum::http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) => Ok(Some(header)),
            Err(e) => bail!(UsageError(format!(
                "--trusted-proxy-header {name:?} is not a header name: {e}"
            ))),
        },
    }
}

/// The authentication `args` ask for, checked against the address listened on.
fn auth_mode(args: &Args) -> anyhow::Result<AuthMode> {
    if !matches!(args.auth, AuthFlag::Local) && trusted_proxy_header(args)?.is_some() {
        tracing::warn!("--trusted-proxy-header has no effect without --auth local");
    }
    match args.auth {
        AuthFlag::None => {
            if let Some(why) =
                honestcam::config::refuse_auth_none(args.addr, args.public_url.as_deref())
            {
                bail!(UsageError(why));
            }
            tracing::warn!(
                "authentication is off (--auth none): every request on {} acts as an admin",
                args.addr
            );
            Ok(AuthMode::None)
        }
        AuthFlag::Local => {
            // Made now, so the first sign-in with an unknown name is not slower.
            honestcam::service::accounts::prepare_password_checks();
            let mut local =
                LocalAuth::new(std::time::Duration::from_secs(args.session_hours * 3600));
            if let Some(name) = trusted_proxy_header(args)? {
                tracing::info!("sign-in limits count the address in {name} from loopback peers");
                local = local.with_trusted_proxy_header(name);
            }
            Ok(AuthMode::Local(local))
        }
        AuthFlag::CloudflareAccess => {
            let (Some(team), Some(aud)) = (
                args.access_team_domain.as_deref().filter(|t| !t.is_empty()),
                args.access_aud.as_deref().filter(|a| !a.is_empty()),
            ) else {
                bail!(UsageError(
                    "--auth cloudflare-access needs --access-team-domain and --access-aud".into()
                ));
            };
            let mut config = AccessConfig::new(team, aud).map_err(|e| UsageError(e.to_string()))?;
            if let Some(url) = args.access_certs_url.as_deref().filter(|u| !u.is_empty()) {
                config.certs_url = url.to_string();
            }
            Ok(AuthMode::CloudflareAccess(AccessVerifier::new(config)))
        }
    }
}

/// Creates the demo property on first start, dated around today in `zone`.
fn ensure_demo(storage: &Storage, zone: &jiff::tz::TimeZone) -> anyhow::Result<Slug> {
    let slug = parse_slug(DEMO_SLUG)?;
    let paths = storage.data().property(&slug);
    if !paths.baseline().exists() {
        let today = jiff::Timestamp::now().to_zoned(zone.clone()).date();
        write_demo(&paths, "Demo Plaza", &DemoOptions::dated(today))
            .context("writing the demo property")?;
        let holder = format!("pid {}: honestcam serve --demo", std::process::id());
        let lock = storage.lock_property(&slug, &holder, Wait::Block, |_| {})?;
        db_migrate(storage, &slug, Run::Execute(&lock), &NoProgress)
            .context("migrating the demo property")?;
        eprintln!("created demo property {slug} in {}", paths.dir.display());
    }
    Ok(slug)
}

/// Says at start which properties cannot be served (their pages would answer 500),
/// naming the file and field at fault; the others are served as usual. It reads and
/// checks each `compliance.json` and opens no database: a property whose file is gone
/// is served from the copy in its database, checked when first asked for.
fn warn_about_broken_properties(storage: &Storage) {
    let Ok(slugs) = storage.data().properties() else {
        return;
    };
    for slug in slugs {
        let paths = storage.data().property(&slug);
        if !paths.baseline().exists() && paths.db().exists() {
            continue;
        }
        if let Err(e) = honestcam::storage::legacy::read_baseline(&paths) {
            tracing::warn!(
                "property {slug} cannot be served: {}",
                statekit::error::Chain(&e)
            );
        }
    }
}

pub fn run(data: &DataDir, args: Args) -> anyhow::Result<()> {
    let max_open = usize::try_from(args.max_open_databases)
        .map_err(|e| UsageError(format!("--max-open-databases: {e}")))?;
    let storage = open_storage_bounded(data, max_open, IDLE_READERS)?;
    let auth = auth_mode(&args)?;
    let metrics_token = match args.metrics_token_file.as_deref() {
        Some(path) if !path.as_os_str().is_empty() => {
            Some(statekit::scrape::ScrapeToken::from_file(path)?)
        }
        _ => None,
    };
    let limits = args.conn_limits();
    let time_zone = display_zone(args.timezone.clone());
    let demo = if args.demo {
        Some(ensure_demo(&storage, &time_zone)?)
    } else {
        None
    };
    let default = match args.property.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let slug = parse_slug(p)?;
            storage
                .property(&slug)
                .map_err(|e| UsageError(e.to_string()))?;
            Some(slug)
        }
        None => {
            let all = storage
                .data()
                .properties()
                .with_context(|| format!("listing {}", data.path().display()))?;
            match (all.len(), demo) {
                (1, _) => all.into_iter().next(),
                (_, Some(d)) => Some(d),
                (0, None) => bail!(UsageError(format!(
                    "no properties in {}: create one with `honestcam demo-data <slug>`, or start with --demo",
                    data.path().display()
                ))),
                _ => None,
            }
        }
    };
    warn_about_broken_properties(&storage);
    let mcp = honestcam::mcp::McpServer::http(
        open_storage_read_only(data, MCP_MAX_OPEN_DATABASES, IDLE_READERS)?,
        time_zone.clone(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(STORAGE_THREADS)
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        let site = Site::new(args.public_url.as_deref().filter(|u| !u.is_empty()), addr)
            .map_err(|e| UsageError(e.to_string()))?;
        let mut state =
            AppState::new(storage, default.clone(), site, auth, time_zone).with_mcp(mcp);
        if let Some(token) = metrics_token {
            state = state.with_metrics_token(token);
        }
        println!("honestcam listening on http://{addr}/");
        match &default {
            Some(slug) => println!("default property: {slug} (http://{addr}/compliance/)"),
            None => println!("no default property: http://{addr}/ lists every property"),
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        web::serve(listener, state, limits, web::shutdown_signal())
            .await
            .context("serving")?;
        println!("honestcam stopped");
        Ok(())
    })
}
