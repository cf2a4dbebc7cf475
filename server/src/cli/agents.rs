//! `faultline agent …` on the central: registering probe agents, listing
//! them and revoking their tokens.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::agents::{valid_agent_name, valid_region, MAX_AGENT_NAME, MAX_REGION};

use super::{block_on, database_config, open_store, DatabaseArg, Failure, ListArgs};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Register a probe agent with this central. Prints its token once;
    /// only the token's hash is kept.
    Add(AgentAddArgs),
    /// List the agents: region, when each was last heard from, revoked or live.
    List(ListArgs),
    /// Revoke an agent: its token stops working at once. The name stays
    /// taken, so earlier results keep meaning one place.
    Revoke(AgentNameArgs),
    /// Run this machine as a probe agent of a central: no database; its
    /// share of the watchlist probed from here, the results sent to the
    /// central (kept in a spool file while it cannot be reached).
    Run(AgentRunArgs),
}

#[derive(Debug, Args)]
pub struct AgentRunArgs {
    /// The central's address, such as https://status.example.
    #[arg(long, value_name = "URL")]
    pub central: url::Url,
    /// A file holding the token `faultline agent add` printed on the central.
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// Where results wait while the central cannot be reached.
    #[arg(long, value_name = "FILE", default_value = "faultline-agent.spool")]
    pub spool: PathBuf,
    /// The spool's bound, in MiB; past it the oldest batches are dropped.
    #[arg(long, value_name = "MIB", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub spool_mib: u64,
}

#[derive(Debug, Args)]
pub struct AgentAddArgs {
    /// The agent's name: letters, digits, '.', '_' and '-', up to 64.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The region it probes from, such as eu-west: lower-case letters,
    /// digits and '-', up to 32.
    #[arg(long, value_name = "REGION")]
    pub region: String,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Debug, Args)]
pub struct AgentNameArgs {
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArg,
}

pub fn run(config_file: Option<PathBuf>, command: AgentCommand) -> Result<(), Failure> {
    match command {
        AgentCommand::Run(args) => {
            let config = crate::config::Config::load(
                config_file.as_deref(),
                &crate::config::Overrides::default(),
            )
            .map_err(|error| Failure::Usage(error.to_string()))?;
            let token = crate::agents::link::read_token_file(&args.token_file)
                .map_err(|error| Failure::Usage(error.to_string()))?;
            crate::telemetry::init(config.log.format, &config.log.level);
            let agent = crate::agents::run::AgentRun {
                central: args.central,
                token,
                spool: args.spool,
                spool_bytes: args.spool_mib * 1024 * 1024,
            };
            block_on(async {
                crate::agents::run::run(&config, agent, tokio_util::sync::CancellationToken::new())
                    .await?;
                Ok(())
            })
        }
        AgentCommand::Add(args) => {
            if !valid_agent_name(&args.name) {
                return Err(Failure::Usage(format!(
                    "an agent's name needs 1 to {MAX_AGENT_NAME} letters, digits, '.', '_' or '-': {:?}",
                    args.name
                )));
            }
            if !valid_region(&args.region) {
                return Err(Failure::Usage(format!(
                    "a region needs 1 to {MAX_REGION} lower-case letters, digits or '-', \
                     not at either end (such as eu-west): {:?}",
                    args.region
                )));
            }
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let (token, hash) = app::admin_tokens::new_token();
                let now = chrono::Utc::now();
                let added = store.add_agent(&args.name, &args.region, &hash, now).await;
                if matches!(added, Ok(Some(_))) {
                    let _ = store
                        .record_audit("command line", "add agent", &args.name, now)
                        .await;
                }
                store.close().await;
                match added.map_err(|e| Failure::Runtime(e.into()))? {
                    Some(id) => {
                        eprintln!(
                            "Agent {id}, {} in {}. Its token, shown once: keep it now.",
                            args.name, args.region
                        );
                        println!("{token}");
                        Ok(())
                    }
                    None => Err(Failure::Usage(format!(
                        "an agent named {} exists already (names stay taken after revocation)",
                        args.name
                    ))),
                }
            })
        }
        AgentCommand::List(args) => {
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let agents = store.agents().await;
                let health = store.vantage_health().await;
                store.close().await;
                let health = health.map_err(|e| Failure::Runtime(e.into()))?;
                for agent in agents.map_err(|e| Failure::Runtime(e.into()))? {
                    // Its network, as its latest results say.
                    let network = health
                        .iter()
                        .find(|h| h.vantage_id == agent.id)
                        .map_or(engine::VantageState::Unknown, store::VantageHealth::state);
                    if args.json {
                        let mut line =
                            serde_json::to_value(&agent).map_err(|e| Failure::Runtime(e.into()))?;
                        line["network"] = serde_json::Value::from(network.as_str());
                        println!("{line}");
                    } else {
                        let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
                            at.map_or("never".to_owned(), |at| {
                                at.format("%Y-%m-%d %H:%M").to_string()
                            })
                        };
                        println!(
                            "{}\t{}\tseen {}\tnetwork {}\t{}",
                            agent.name,
                            agent.region,
                            when(agent.last_seen_at),
                            network.plain(),
                            agent.revoked_at.map_or("live".to_owned(), |at| format!(
                                "revoked {}",
                                when(Some(at))
                            ))
                        );
                    }
                }
                Ok(())
            })
        }
        AgentCommand::Revoke(args) => {
            let config = database_config(config_file, &args.database)?;
            block_on(async {
                let store = open_store(&config).await?;
                let now = chrono::Utc::now();
                let revoked = store.revoke_agent(&args.name, now).await;
                if matches!(revoked, Ok(true)) {
                    let _ = store
                        .record_audit("command line", "revoke agent", &args.name, now)
                        .await;
                }
                store.close().await;
                match revoked.map_err(|e| Failure::Runtime(e.into()))? {
                    true => {
                        eprintln!("Agent {} revoked.", args.name);
                        Ok(())
                    }
                    false => Err(Failure::Usage(format!("no live agent named {}", args.name))),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_regions_are_plain() {
        for good in ["paris-1", "edge.fra_2", "A"] {
            assert!(valid_agent_name(good), "{good}");
        }
        let long = "a".repeat(MAX_AGENT_NAME + 1);
        for bad in ["", "two words", "paris/1", "é", "<b>", long.as_str()] {
            assert!(!valid_agent_name(bad), "{bad}");
        }
        for good in ["eu-west", "us-east-1", "global"] {
            assert!(valid_region(good), "{good}");
        }
        for bad in ["", "EU-west", "-eu", "eu-", "eu west", "eu_west"] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
