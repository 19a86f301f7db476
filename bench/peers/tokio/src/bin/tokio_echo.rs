// tokio's echo, the way its examples write it: a current_thread runtime, one task per
// connection, read into a 4 KiB buffer and write it all back. Same contract as
// bench/servers/epoll_echo.cpp: --port P (0 = ephemeral), prints "listening on 127.0.0.1:PORT",
// SIGINT/SIGTERM end it with status 0.
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

fn port_from_args() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_] => 0,
        [_, flag, p] if flag == "--port" => p.parse().unwrap_or_else(|_| usage()),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: tokio_echo [--port P]");
    std::process::exit(2);
}

async fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on 127.0.0.1:{}", listener.local_addr()?.port());
    use std::io::Write;
    std::io::stdout().flush()?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((s, _)) = accepted {
                    tokio::spawn(echo(s));
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

fn main() {
    let port = port_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    if let Err(e) = rt.block_on(serve(port)) {
        eprintln!("tokio_echo: {e}");
        std::process::exit(1);
    }
}
