//! A scripted SMTP relay: enough of RFC 5321 for lettre, answering RCPT
//! with a chosen reply and handing over every message it accepts.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The reply that accepts a recipient.
pub const ACCEPT: &str = "250 2.1.5 OK\r\n";

/// A relay on a free port.
pub struct Relay {
    /// `SMTP_URL` for it.
    pub url: String,
    messages: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl Relay {
    /// Starts a relay that answers `RCPT TO` with `rcpt_reply` (a full
    /// reply line with its CRLF).
    pub async fn start(rcpt_reply: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (tx, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    // A dropped connection is the client's business.
                    let _ = serve(stream, rcpt_reply, tx).await;
                });
            }
        });
        Self {
            url: format!("smtp://127.0.0.1:{port}"),
            messages,
        }
    }

    /// The next message accepted, as sent (dot-stuffing undone).
    pub async fn next_message(&mut self) -> Vec<u8> {
        tokio::time::timeout(Duration::from_secs(20), self.messages.recv())
            .await
            .expect("a message within 20 s")
            .expect("the relay is running")
    }
}

async fn serve(
    stream: TcpStream,
    rcpt_reply: &'static str,
    messages: mpsc::UnboundedSender<Vec<u8>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 relay.test ESMTP\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let reply: &[u8] = match command.split_whitespace().next().unwrap_or("") {
            "EHLO" => b"250-relay.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 OK\r\n",
            "HELO" | "RSET" | "NOOP" => b"250 OK\r\n",
            "MAIL" => b"250 2.1.0 OK\r\n",
            "RCPT" => rcpt_reply.as_bytes(),
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // Dot-stuffing: the first dot of a line starting with one goes.
                    data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
                }
                // The test may have stopped listening; the reply is the same.
                let _ = messages.send(data);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 unknown command\r\n",
        };
        write.write_all(reply).await?;
    }
}
