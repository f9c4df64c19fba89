//! `--help`: clap's text from the doc comments, plus examples from one table here, so every
//! command shows how it is used. The test below walks the whole command tree: a command without
//! an example, or an argument without a help line, fails it.

use clap::CommandFactory;

use crate::Cli;

/// (command path, examples). The path is the subcommands' names joined by spaces; "" is `pb2b`.
const EXAMPLES: &[(&str, &str)] = &[
    ("", "pb2b login --name \"Acme live\" < key.txt\npb2b sync && pb2b leads list --local\nPB2B_API_KEY=… PB2B_BASE_URL=… pb2b me --json"),
    ("login", "pb2b login --name \"Acme live\" < key.txt\npb2b login --name \"Acme live\" --key-env ACME_KEY --replace"),
    ("profiles", "pb2b profiles\npb2b profiles use \"Acme live\""),
    ("profiles use", "pb2b profiles use \"Acme live\""),
    ("profiles rename", "pb2b profiles rename default \"Acme live\""),
    ("profiles forget", "pb2b profiles forget \"Old client\"\npb2b profiles forget \"Old client\" --yes   # from a script"),
    ("me", "pb2b me\npb2b me --profile \"Acme live\" --json"),
    ("activity", "pb2b activity --status 4xx --limit 20\npb2b activity --request-id req_01HZX…"),
    ("webhooks", "pb2b webhooks list\npb2b webhooks create --url https://hooks.example.com/pb2b --events lead.created"),
    ("webhooks list", "pb2b webhooks list --json"),
    ("webhooks create", "pb2b webhooks create --url https://hooks.example.com/pb2b --events lead.created,export.completed --save-secret"),
    ("webhooks update", "pb2b webhooks update wh_123 --events lead.created --disable"),
    ("webhooks delete", "pb2b webhooks delete wh_123\npb2b webhooks delete wh_123 --yes   # from a script"),
    ("webhooks rotate", "pb2b webhooks rotate wh_123 --save-secret"),
    ("webhooks deliveries", "pb2b webhooks deliveries wh_123 --limit 10"),
    ("webhooks retry", "pb2b webhooks retry wh_123 del_456"),
    ("webhooks verify", "pb2b webhooks verify --secret-env WH_SECRET --timestamp \"$TS\" --signature \"$SIG\" < body.json"),
    ("sync", "pb2b sync\npb2b sync --full\nPGPASSWORD=… pb2b sync --to postgres://pb2b@db.internal:5432/crm --schema acme\n*/15 * * * * pb2b sync --json >> ~/pb2b-sync.log 2>&1   # cron, beside the app"),
    ("sync verify", "pb2b sync verify\npb2b sync verify --to postgres://pb2b@db.internal:5432/crm --schema acme --repair"),
    ("leads", "pb2b leads list --local --search acme"),
    ("leads create", "pb2b leads create --full-name \"Ada Lovelace\" --email ada@example.com --company-name \"Analytical Engines\""),
    ("leads update", "pb2b leads update lead_123 --field job_title=CTO --field phone=   # phone cleared\npb2b leads update lead_123 --field status=qualified --field tier=gold --json"),
    ("leads list", "pb2b leads list --local --search acme --limit 20"),
    ("leads export", "pb2b leads export --local --format csv --out leads.csv"),
    ("import", "pb2b import leads.csv --dry-run\npb2b import leads.csv --mode upsert --dry-run --json\npb2b import leads.csv --mapping mapping.json\npb2b import leads.csv --resume\npb2b import leads.xlsx --sheet \"Q3 leads\" --dry-run"),
    ("diagnostics", "pb2b diagnostics --json > diagnostics.json"),
    ("exports", "pb2b exports create --wait --out ~/Downloads"),
    ("exports create", "pb2b exports create --updated-after 2026-11-01T00:00:00Z --wait"),
    ("exports status", "pb2b exports status exp_123"),
    ("exports wait", "pb2b exports wait exp_123"),
    ("exports download", "pb2b exports download exp_123 --out ~/Downloads"),
    ("exports list", "pb2b exports list --json"),
    ("exports resume", "pb2b exports resume"),
    ("exports remove", "pb2b exports remove exp_123"),
    ("completions", "pb2b completions bash > ~/.local/share/bash-completion/completions/pb2b\npb2b completions zsh > \"${fpath[1]}/_pb2b\"\npb2b completions fish > ~/.config/fish/completions/pb2b.fish"),
];

fn examples(path: &str) -> Option<&'static str> {
    EXAMPLES.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
}

/// `pb2b`'s command tree with the examples attached.
pub fn command() -> clap::Command {
    with_examples(Cli::command(), "")
}

fn with_examples(mut command: clap::Command, path: &str) -> clap::Command {
    if let Some(text) = examples(path) {
        let indented: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
        command = command.after_help(format!("Examples:\n{}", indented.join("\n")));
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        command = command.mut_subcommand(&name, |s| with_examples(s, &sub_path));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if command.get_name() != "help" {
            if command.get_about().is_none() && !path.is_empty() {
                missing.push(format!("`{path}` has no description"));
            }
            if examples(path).is_none() {
                missing.push(format!("`{path}` has no example in EXAMPLES"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("`{path}` argument `{id}` has no help"));
                }
            }
        }
        for sub in command.get_subcommands() {
            let sub_path = if path.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{path} {}", sub.get_name())
            };
            walk(sub, &sub_path, missing);
        }
    }

    #[test]
    fn every_command_has_an_example_and_every_argument_help() {
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
        // And no example is left over for a command that no longer exists.
        let mut paths = Vec::new();
        fn all(c: &clap::Command, path: &str, out: &mut Vec<String>) {
            out.push(path.to_owned());
            for s in c.get_subcommands() {
                let p = if path.is_empty() {
                    s.get_name().to_owned()
                } else {
                    format!("{path} {}", s.get_name())
                };
                all(s, &p, out);
            }
        }
        all(&Cli::command(), "", &mut paths);
        for (path, _) in EXAMPLES {
            assert!(
                paths.iter().any(|p| p == path),
                "example for unknown `{path}`"
            );
        }
        // The examples reach --help.
        let help = command()
            .find_subcommand_mut("import")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Examples:\n  pb2b import leads.csv --dry-run"),
            "{help}"
        );
    }
}
