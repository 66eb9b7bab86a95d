daemon {
  log_level      = "verbose"
  metrics_listen = "9180"
}
