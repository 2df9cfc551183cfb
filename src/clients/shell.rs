//! `sockscope env` output: the variables in the syntax of a shell (POSIX sh/bash/zsh, fish,
//! PowerShell), each value quoted for it, and a `sockscope_env_off` function that puts back what
//! was there before (or unsets it).

use super::env::Var;

/// The shells `sockscope env --shell` prints for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// sh, bash, zsh: `eval "$(sockscope env)"`.
    #[value(name = "sh", alias = "bash", alias = "zsh", alias = "posix")]
    Posix,
    /// fish: `sockscope env --shell fish | source`.
    Fish,
    /// PowerShell: `sockscope env --shell powershell | Invoke-Expression`.
    #[value(name = "powershell", alias = "pwsh")]
    PowerShell,
}

impl Shell {
    /// How to apply the output, for stderr.
    pub fn hint(self) -> &'static str {
        match self {
            Shell::Posix => "apply with: eval \"$(sockscope env)\"; undo with: sockscope_env_off",
            Shell::Fish => {
                "apply with: sockscope env --shell fish | source; undo with: sockscope_env_off"
            }
            Shell::PowerShell => {
                "apply with: sockscope env --shell powershell | Invoke-Expression; undo with: sockscope_env_off"
            }
        }
    }

    /// A value quoted for this shell.
    pub fn quote(self, v: &str) -> String {
        match self {
            Shell::Posix => format!("'{}'", v.replace('\'', r"'\''")),
            Shell::Fish => format!("'{}'", v.replace('\\', r"\\").replace('\'', r"\'")),
            Shell::PowerShell => format!("'{}'", v.replace('\'', "''")),
        }
    }

    fn set(self, name: &str, value: &str) -> String {
        let q = self.quote(value);
        match self {
            Shell::Posix => format!("export {name}={q}"),
            Shell::Fish => format!("set -gx {name} {q}"),
            Shell::PowerShell => format!("$env:{name} = {q}"),
        }
    }

    fn unset(self, name: &str) -> String {
        match self {
            Shell::Posix => format!("unset {name}"),
            Shell::Fish => format!("set -e {name}"),
            Shell::PowerShell => format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue"),
        }
    }
}

/// The script: a comment naming the proxy, the assignments, and the undo function restoring
/// `previous` (each name with the value it had, or None when it was unset).
pub fn render(
    shell: Shell,
    proxy_url: &str,
    vars: &[Var],
    previous: &[(&'static str, Option<String>)],
) -> String {
    let mut out = format!(
        "# sockscope: send programs started from this shell through the proxy at {proxy_url}\n"
    );
    for v in vars {
        out.push_str(&shell.set(v.name, &v.value));
        out.push('\n');
    }
    let undo: Vec<String> = previous
        .iter()
        .map(|(name, old)| match old {
            Some(v) => shell.set(name, v),
            None => shell.unset(name),
        })
        .collect();
    out.push_str("# undo with: sockscope_env_off\n");
    match shell {
        Shell::Posix => {
            out.push_str("sockscope_env_off() {\n");
            for u in &undo {
                out.push_str(&format!("  {u}\n"));
            }
            out.push_str("  unset -f sockscope_env_off\n}\n");
        }
        Shell::Fish => {
            out.push_str("function sockscope_env_off\n");
            for u in &undo {
                out.push_str(&format!("  {u}\n"));
            }
            out.push_str("  functions -e sockscope_env_off\nend\n");
        }
        Shell::PowerShell => {
            out.push_str("function global:sockscope_env_off {\n");
            for u in &undo {
                out.push_str(&format!("  {u}\n"));
            }
            out.push_str("  Remove-Item Function:sockscope_env_off\n}\n");
        }
    }
    out
}
