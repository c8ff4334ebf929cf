-- =====================================================================================
-- The delivery log is kept for a period: every alerts-deliver run deletes finished rows
-- (delivered, dead) older than ALERTS_LOG_RETENTION_DAYS (default 30), oldest first, a bounded
-- number per run (shared/repository/alerts.ts pruneFinishedDeliveries). Before this the
-- outbox grew with every alert, for ever.
--
-- One index serves that walk (oldest first) and the service role's log, which lists every
-- owner's deliveries newest first (a backward scan); users' lists keep their own indexes.
-- =====================================================================================
create index idx_alert_deliveries_created on public.alert_deliveries (created_at, id);
