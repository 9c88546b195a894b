//! Building and running a node: connect to PostgreSQL and NATS, mount the routes for its roles,
//! serve until SIGTERM/SIGINT, then shut down in order (actors handed over → HTTP → NATS drain → pool).

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::JwtKeys;
use crate::bus::callout::DeviceAdmission;
use crate::config::ServeConfig;
use crate::error;
use crate::limits::{self, Limits};
use crate::live::access::Gates;
use crate::live::hub::LiveHub;
use crate::routes::participation::WearableAccess;
use crate::routes::workouts::ListCache;
use crate::{openapi, routes};
use actix_web::dev::{Server, Service as _};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage as _, HttpServer, web};
use anyhow::Context;
use apistos::app::{BuildConfig, OpenApiWrapper as _};
use async_nats::jetstream;
use cultfit_actors::client::ActorClient;
use cultfit_actors::placement::nodes::Directory;
use cultfit_actors::worker::{Worker, WorkerConfig};
use cultfit_actors::workout::state::Rules;
use sqlx::migrate::MigrateDatabase as _;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use tracing_actix_web::{RequestId, TracingLogger};

/// Longest any one shutdown step (NATS drain, pool close) may take.
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest accepted JSON body.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

/// A node that is bound and connected, ready to serve.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    pool: PgPool,
    nats: async_nats::Client,
    worker: Option<Worker>,
    directory: Directory,
    live_hub: std::sync::Arc<LiveHub>,
    callout: Option<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connect to everything, apply migrations (unless disabled) and bind the HTTP listener.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        tracing::info!(?config, "starting");
        // Before anything records a metric.
        let metrics = web::Data::new(
            metrics_exporter_prometheus::PrometheusBuilder::new()
                // Buckets rather than the default summary: two scrapes can be subtracted.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        cultfit_actors::metrics::TICK_LATENESS_SECONDS.to_owned(),
                    ),
                    cultfit_actors::metrics::TICK_LATENESS_BUCKETS,
                )
                .context("invalid metric buckets")?
                .install_recorder()
                .context("failed to install the metrics recorder")?,
        );
        if config.migrate {
            migrate(&config.database_url).await?;
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.db_max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&config.database_url)
            .context("invalid DATABASE_URL")?;
        let nats = crate::bus::connect::connect(
            &config.nats_urls,
            &config.bus,
            &format!("cultfit-{}-{}", config.node_id, std::process::id()),
        )
        .await?;
        let buckets = ensure_bus(
            &jetstream::new(nats.clone()),
            cultfit_actors::bus::Layout {
                lease_ttl: config.lease_ttl,
                energy_retention: config.energy_retention,
                replicas: config.nats_replicas,
                energy_replicas: config.energy_replicas,
            },
        )
        .await?;
        let directory = Directory::watch(&buckets.nodes).await?;
        // Long enough to outlive a dead owner's lease (failover) with room for activation.
        let actors = ActorClient::new(
            nats.clone(),
            directory.clone(),
            config.lease_ttl + Duration::from_secs(4),
        );
        let worker = if config.roles.worker {
            let worker_config = WorkerConfig {
                node_id: config.node_id.clone(),
                lease_ttl: config.lease_ttl,
                rules: Rules {
                    start_window: config.start_window,
                    auto_end_grace: config.auto_end_grace,
                },
                tick: config.tick,
                snapshot_every: config.snapshot_every,
            };
            Some(
                Worker::start(
                    pool.clone(),
                    nats.clone(),
                    &buckets,
                    actors.clone(),
                    worker_config,
                )
                .await?,
            )
        } else {
            None
        };

        let listener = TcpListener::bind(config.http_addr)
            .with_context(|| format!("failed to bind {}", config.http_addr))?;
        let addr = listener
            .local_addr()
            .context("listener has no local address")?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);

        let pool_data = web::Data::new(pool.clone());
        let nats_data = web::Data::new(nats.clone());
        let live_hub = web::Data::new(LiveHub::new(nats.clone()));
        let live_hub_handle = live_hub.clone().into_inner();
        let keys = web::Data::new(JwtKeys::new(&config.jwt_secret));
        // Every api node answers the auth callout (one queue group), so admitting wearables
        // scales with the api nodes. Without secrets (--insecure-bus) there is no callout.
        let callout = match (&config.bus.secrets, config.roles.api) {
            (Some(secrets), true) => Some(
                std::sync::Arc::new(DeviceAdmission::new(
                    secrets.issuer.clone(),
                    secrets.xkey.as_ref(),
                    JwtKeys::new(&config.jwt_secret),
                    pool.clone(),
                )?)
                .serve(nats.clone())
                .await?,
            ),
            _ => None,
        };
        let hasher = web::Data::new(PasswordHasher::new(cores)?);
        let actors = web::Data::new(actors);
        let list_cache = web::Data::new(
            ListCache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_millis(900))
                .build(),
        );
        let wearables = web::Data::new(WearableAccess {
            nats_url: config.public_nats_url.clone(),
            nats_ws_url: config.public_nats_ws_url.clone(),
            credential_grace: config.auto_end_grace,
        });
        let gates = web::Data::new(Gates::new(pool.clone()));
        let limits = web::Data::new(Limits::new(&config.limits));
        Limits::describe_metrics();
        limits::spawn_housekeeping(&limits.clone().into_inner());
        let roles = config.roles;

        let server = HttpServer::new(move || {
            let mut app = actix_web::App::new()
                .document(openapi::spec())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT_BYTES)
                        .error_handler(|err, _| error::json_error(err).into()),
                )
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|err, _| error::query_error(err).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|err, _| error::path_error(err).into()),
                )
                .app_data(pool_data.clone())
                .app_data(nats_data.clone())
                .app_data(live_hub.clone())
                .app_data(keys.clone())
                .app_data(hasher.clone())
                .app_data(actors.clone())
                .app_data(list_cache.clone())
                .app_data(wearables.clone())
                .app_data(metrics.clone())
                .app_data(limits.clone())
                .app_data(gates.clone())
                .wrap_fn(|req, srv| {
                    let request_id = req.extensions().get::<RequestId>().copied();
                    let response = srv.call(req);
                    async move {
                        let mut response = response.await?;
                        if let Some(Ok(value)) =
                            request_id.map(|id| HeaderValue::from_str(&id.to_string()))
                        {
                            response
                                .headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), value);
                        }
                        Ok(response)
                    }
                })
                .wrap(TracingLogger::default())
                .service(routes::health::routes())
                .service(routes::health::metrics_routes());
            // A worker-only node serves just the probes: no API, no docs.
            let build = if roles.api {
                app = app.service(routes::api_v1());
                BuildConfig::default()
            } else {
                BuildConfig::default().disable_openapi_route()
            };
            let app = app.build_with("/openapi.json", build);
            if roles.api {
                app.configure(routes::docs::configure)
                    .configure(routes::app::configure)
                    .default_service(actix_web::dev::fn_service(routes::app::fallback))
            } else {
                app
            }
        })
        .listen(listener)
        .context("failed to listen")?
        .shutdown_timeout(30)
        // We handle SIGTERM/SIGINT ourselves: actors must be handed over while the arbiters
        // they run on are still alive, before the HTTP server winds down.
        .disable_signals()
        .run();

        tracing::info!(http.addr = %addr, node.id = %config.node_id, roles.api = roles.api, roles.worker = roles.worker, "listening");
        Ok(Self {
            server,
            addr,
            pool,
            nats,
            worker,
            directory,
            live_hub: live_hub_handle,
            callout,
        })
    }

    /// The bound HTTP address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until SIGTERM/SIGINT, then shut down in order: hand this node's actors over (stop
    /// them and delete their leases, so other workers take over at once), stop the HTTP server
    /// (finishing in-flight requests), drain NATS (flushes anything still queued), close the pool.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = self.server;
        tokio::select! {
            served = &mut server => served.context("http server failed")?,
            () = shutdown_signal() => {
                if let Some(worker) = self.worker {
                    tracing::info!("shutdown signal: handing actors over");
                    worker.drain().await;
                }
                tracing::info!("stopping the http server");
                // Live streams last as long as a workout: end them, or the stop would wait.
                self.live_hub.close();
                // The server future must keep being polled while it processes the stop.
                let ((), served) = tokio::join!(handle.stop(true), server);
                served.context("http server failed")?;
            }
        }
        self.directory.stop();
        if let Some(callout) = self.callout {
            callout.abort();
        }
        tracing::info!("draining NATS");
        // Bounded: with NATS unreachable a drain would wait for a reconnect that may never come.
        match tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, self.nats.drain()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "failed to drain NATS"),
            Err(_) => tracing::warn!("NATS drain timed out"),
        }
        if tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("closing the PostgreSQL pool timed out");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long a starting node waits for JetStream to take its streams and buckets: a NATS cluster
/// that has just started elects its JetStream leaders in a few seconds.
const JETSTREAM_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// [`cultfit_actors::bus::ensure`], retried while JetStream is not ready yet.
async fn ensure_bus(
    js: &jetstream::Context,
    layout: cultfit_actors::bus::Layout,
) -> anyhow::Result<cultfit_actors::bus::Buckets> {
    let deadline = tokio::time::Instant::now() + JETSTREAM_READY_TIMEOUT;
    loop {
        match cultfit_actors::bus::ensure(js, layout).await {
            Ok(buckets) => return Ok(buckets),
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "JetStream not ready yet; retrying"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Create the database if it does not exist, then apply pending migrations.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    if !Postgres::database_exists(database_url)
        .await
        .context("failed to reach PostgreSQL")?
    {
        Postgres::create_database(database_url)
            .await
            .context("failed to create the database")?;
        tracing::info!("database created");
    }
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await
        .context("failed to connect to PostgreSQL")?;
    cultfit_actors::MIGRATOR
        .run(&pool)
        .await
        .context("failed to apply migrations")?;
    pool.close().await;
    tracing::info!("migrations applied");
    Ok(())
}
