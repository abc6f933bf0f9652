-- Webhooks: leases of due endpoints, the outcome of each delivery attempt and its retry schedule, and the purge of old attempts.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

-- Retired: the claims that did not answer what an endpoint missed, or the secret a rotation
-- replaced (new result types). Dropped only while its result differs, so a later install keeps the
-- function, and the grants made on it.
DO $$
BEGIN
    IF to_regprocedure('ams_claim_webhooks(integer, interval)') IS NOT NULL
        AND pg_get_function_result('ams_claim_webhooks(integer, interval)'::regprocedure) <> 'TABLE(tenant_id text, id uuid, url text, events text[], secret text, previous_secret text, lease_token uuid, delivered bigint, attempts integer, missed_through bigint)' THEN
        DROP FUNCTION ams_claim_webhooks(integer, interval);
    END IF;
END
$$;

-- Due endpoints with events after their position, or with purged events they missed (which they
-- hear of first), oldest due first, each leased for p_lease. First, the endpoints that no worker
-- holds move past the events they do not want: up to their next wanted event, or to their tenant's
-- newest. So a filtered endpoint's position, and the lag, follow the tenant's events, and a claim
-- reads only what came since; a quiet tenant's endpoints are not written, nor any another claim
-- or the purge holds (taken in the purge's order, skipping locked ones: replicas never wait on each
-- other). One that missed purged events keeps its position until told. The secret a rotation
-- replaced comes too, until it expires.
CREATE OR REPLACE FUNCTION ams_claim_webhooks(p_limit integer, p_lease interval)
 RETURNS TABLE(tenant_id text, id uuid, url text, events text[], secret text, previous_secret text, lease_token uuid, delivered bigint, attempts integer, missed_through bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    WITH p AS (
        SELECT a.tenant_id, a.id, coalesce(
                (SELECT min(o.sequence) - 1 FROM outbox o WHERE o.tenant_id = a.tenant_id AND o.sequence > a.delivered
                    AND ('*' = ANY (a.events) OR o.event = ANY (a.events))),
                (SELECT max(o.sequence) FROM outbox o WHERE o.tenant_id = a.tenant_id AND o.sequence > a.delivered)) AS upto
        FROM webhooks a
        WHERE a.status = 'active' AND a.missed_through <= a.delivered AND (a.lease_until IS NULL OR a.lease_until < now())
          AND EXISTS (SELECT 1 FROM (SELECT o.event FROM outbox o WHERE o.tenant_id = a.tenant_id AND o.sequence > a.delivered
                  ORDER BY o.sequence LIMIT 1) n
              WHERE NOT ('*' = ANY (a.events) OR n.event = ANY (a.events)))
        ORDER BY a.tenant_id, a.id
        FOR UPDATE OF a SKIP LOCKED
    )
    UPDATE webhooks w SET delivered = p.upto FROM p
    WHERE w.tenant_id = p.tenant_id AND w.id = p.id AND p.upto > w.delivered;
    RETURN QUERY
    WITH due AS (
        SELECT w.tenant_id, w.id FROM webhooks w
        WHERE w.status = 'active' AND w.next_attempt_at <= now() AND (w.lease_until IS NULL OR w.lease_until < now())
          AND (w.missed_through > w.delivered
              OR EXISTS (SELECT 1 FROM outbox o WHERE o.tenant_id = w.tenant_id AND o.sequence > w.delivered
                  AND ('*' = ANY (w.events) OR o.event = ANY (w.events))))
        ORDER BY w.next_attempt_at LIMIT p_limit
        FOR UPDATE OF w SKIP LOCKED
    )
    UPDATE webhooks w SET lease_until = now() + p_lease, lease_token = gen_random_uuid() FROM due
    WHERE w.tenant_id = due.tenant_id AND w.id = due.id
    RETURNING w.tenant_id, w.id, w.url, w.events, w.secret,
        CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END, w.lease_token, w.delivered, w.attempts, w.missed_through;
    PERFORM set_config('app.notifier', 'off', true);
END
$function$;

-- Seconds until the next endpoint waiting for a retry is due (NULL: none waits), and how far
-- the active endpoint furthest behind got (NULL: none is active), for the lag: counted up to
-- its first event not yet delivered, as a quiet tenant's position moves only with its events.
CREATE OR REPLACE FUNCTION ams_webhooks_next_due()
 RETURNS TABLE(next_due double precision, behind bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    RETURN QUERY SELECT extract(epoch FROM min(w.next_attempt_at) FILTER (WHERE w.next_attempt_at > now()) - now())::double precision,
        min(coalesce((SELECT min(o.sequence) - 1 FROM outbox o WHERE o.tenant_id = w.tenant_id AND o.sequence > w.delivered),
            (SELECT c.last FROM outbox_counter c)))
    FROM webhooks w WHERE w.status = 'active';
    PERFORM set_config('app.notifier', 'off', true);
END
$function$;

-- One attempt recorded, and the endpoint's next step: 'next' (delivered, or given up after
-- its last attempt), 'retry' (due again after p_retry_ms, lease given back) or 'stop'
-- (disabled: 410 Gone or p_failure_limit failures in a row; or the lease p_lease is no
-- longer the caller's, which then changes nothing). A disabling is announced to the tenant
-- as `webhook_disabled`, in the same transaction.
CREATE OR REPLACE FUNCTION ams_webhook_attempt(p_tenant text, p_id uuid, p_lease uuid, p_event_id uuid, p_event text, p_sequence bigint, p_attempt integer, p_at timestamp with time zone, p_status integer, p_latency double precision, p_error text, p_skipped bigint, p_retry_ms bigint, p_failure_limit integer)
 RETURNS text
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_failures integer;
    v_url text;
    v_reason text;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant, true);
    INSERT INTO webhook_deliveries (tenant_id, webhook_id, event_id, event, sequence, attempt, attempted_at, status_code, latency_ms, error)
    SELECT p_tenant, p_id, p_event_id, p_event, p_sequence, p_attempt, p_at, p_status, p_latency, p_error
    WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = p_tenant AND id = p_id);
    PERFORM 1 FROM webhooks WHERE tenant_id = p_tenant AND id = p_id AND lease_token = p_lease AND status = 'active' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'stop';
    END IF;
    IF p_status BETWEEN 200 AND 299 THEN
        UPDATE webhooks SET delivered = greatest(delivered, p_sequence), attempts = 0, consecutive_failures = 0
        WHERE tenant_id = p_tenant AND id = p_id;
        RETURN 'next';
    END IF;
    UPDATE webhooks SET consecutive_failures = consecutive_failures + 1, attempts = p_attempt,
        delivered = greatest(delivered, p_skipped)
    WHERE tenant_id = p_tenant AND id = p_id
    RETURNING consecutive_failures, url INTO v_failures, v_url;
    IF p_status = 410 THEN
        v_reason := 'gone';
    ELSIF v_failures >= p_failure_limit THEN
        v_reason := 'failures';
    END IF;
    IF v_reason IS NOT NULL THEN
        UPDATE webhooks SET status = 'disabled', disabled_reason = v_reason, lease_until = NULL, lease_token = NULL, updated_at = now()
        WHERE tenant_id = p_tenant AND id = p_id;
        INSERT INTO outbox (tenant_id, event, data)
        VALUES (p_tenant, 'webhook_disabled', jsonb_build_object('webhook_id', p_id, 'url', v_url, 'reason', v_reason,
            'consecutive_failures', v_failures, 'status_code', p_status));
        RETURN 'stop';
    END IF;
    IF p_retry_ms IS NULL THEN
        UPDATE webhooks SET delivered = greatest(delivered, p_sequence), attempts = 0 WHERE tenant_id = p_tenant AND id = p_id;
        RETURN 'next';
    END IF;
    UPDATE webhooks SET next_attempt_at = now() + make_interval(secs => p_retry_ms / 1000.0), lease_until = NULL, lease_token = NULL
    WHERE tenant_id = p_tenant AND id = p_id;
    RETURN 'retry';
END
$function$;

-- Attempts older than the retention (at least an hour, whatever the caller asks) go, a batch at a time.
CREATE OR REPLACE FUNCTION ams_purge_webhook_deliveries(p_retention interval, p_batch integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v_count integer;
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    DELETE FROM webhook_deliveries WHERE (tenant_id, webhook_id, seq) IN (
        SELECT tenant_id, webhook_id, seq FROM webhook_deliveries WHERE attempted_at < now() - greatest(p_retention, interval '1 hour')
        LIMIT p_batch);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$function$;

DROP POLICY IF EXISTS tenant_isolation ON webhooks;
CREATE POLICY tenant_isolation ON webhooks
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS tenant_isolation ON webhook_deliveries;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS notifier ON webhooks;
CREATE POLICY notifier ON webhooks TO CURRENT_USER
    USING (current_setting('app.notifier', true) = 'on')
    WITH CHECK (current_setting('app.notifier', true) = 'on');

DROP POLICY IF EXISTS notifier ON webhook_deliveries;
CREATE POLICY notifier ON webhook_deliveries TO CURRENT_USER
    USING (current_setting('app.notifier', true) = 'on')
    WITH CHECK (current_setting('app.notifier', true) = 'on');
