//! Webhooks queued in the same transaction as the change they report.

/// `impl WebhooksTx` for a backend's transaction type (see `sql_backend!`).
macro_rules! sql_webhooks {
    ($tx:ident, $q:ident, $row_lock:expr, $claim_lock:expr) => {
        #[async_trait]
        impl WebhooksTx for $tx {
            async fn enqueue_webhook(&mut self, w: &NewWebhook) -> Result<()> {
                insert_webhook(&mut self.tx, w).await
            }
        }
    };
}

pub(crate) use sql_webhooks;
