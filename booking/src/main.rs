use service_kit::{server, telemetry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = server::config_or_exit("booking", booking::Config::from_env);
    telemetry::init(config.common.log_format);
    booking::Application::build(config)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
