//! `web4`: command-line client of a web4d node.
use clap::Parser;

fn main() {
    let cli = web4_daemon::cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("web4: cannot start runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = rt.block_on(web4_daemon::cli::run(cli));
    std::process::exit(code);
}
