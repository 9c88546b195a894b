//! The `cultfit` binary: parse the command line, set up telemetry, run the chosen command.

use clap::Parser;
use cultfit::cli::{Cli, Command};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The simulator reports on stdout and stderr itself; its logs are for trouble only.
    let (level, to_stderr) = match cli.command {
        Command::Simulate(_) | Command::SimulateShard(_) | Command::NatsConfig(_) => ("warn", true),
        _ => ("info", false),
    };
    cultfit::telemetry::init(cli.log_format(), level, to_stderr);
    match cli.command {
        Command::Serve(args) => {
            let config = args.into_config()?;
            cultfit::startup::Application::build(config)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Migrate(args) => cultfit::startup::migrate(&args.database_url).await,
        Command::NatsConfig(args) => cultfit::bus::server_config::run(&args),
        Command::Simulate(args) => {
            if !cultfit::simulate::run(args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::SimulateShard(args) => {
            if !cultfit::simulate::shards::child::run(args).await? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
