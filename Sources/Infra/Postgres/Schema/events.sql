-- Events and the outbox: each committed change writes its event in its transaction; the notifier sequences and announces them.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

-- Retired: sequencing without returning the events (ams_sequence_outbox_events replaced it).
DROP FUNCTION IF EXISTS ams_sequence_outbox(integer);

-- Retired: the history's event trigger, which read back the agent its writer knew (ams_record_change
-- writes the entry and its event in one statement now).
DROP TRIGGER IF EXISTS agent_history_event ON agent_history;
DROP FUNCTION IF EXISTS ams_history_event();

-- Retired: the reads of events without the trace that wrote them (new result types). Dropped only
-- while their result differs, so a later install keeps the functions, and the grants made on them.
DO $$
DECLARE
    v_result constant text := 'TABLE(sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text, data text, created_at timestamp with time zone, traceparent text)';
BEGIN
    IF to_regprocedure('ams_sequence_outbox_events(integer)') IS NOT NULL
        AND pg_get_function_result('ams_sequence_outbox_events(integer)'::regprocedure) <> v_result THEN
        DROP FUNCTION ams_sequence_outbox_events(integer);
    END IF;
    IF to_regprocedure('ams_outbox_after(bigint, integer)') IS NOT NULL
        AND pg_get_function_result('ams_outbox_after(bigint, integer)'::regprocedure) <> v_result THEN
        DROP FUNCTION ams_outbox_after(bigint, integer);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION ams_change_notice(p_tenant text, p_id uuid, p_version integer, p_deleted boolean)
 RETURNS text
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
    IF p_deleted THEN
        RETURN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id, 'deleted', true)::text;
    END IF;
    RETURN json_build_object('kind', 'agent', 'tenant_id', p_tenant, 'agent_id', p_id,
        'revision', (SELECT revision FROM agents WHERE id = p_id))::text;
END
$function$;

-- The caches of every replica follow the committed events: each agent event's NOTIFY on
-- `ams_outbox` carries the change notice (tenant, agent, revision or deleted) that the
-- listener applies, besides waking the notifier; other events wake it with an empty one.
CREATE OR REPLACE FUNCTION ams_outbox_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    r record;
    v_told boolean := false;
BEGIN
    FOR r IN SELECT a.tenant_id, a.agent_id, a.event FROM added a
        WHERE a.agent_id IS NOT NULL AND a.event IN ('agent_created', 'agent_updated', 'agent_deleted', 'agent_restored',
            'agent_status_changed', 'agent_validated')
        ORDER BY a.id
    LOOP
        PERFORM pg_notify('ams_outbox', ams_change_notice(r.tenant_id, r.agent_id, NULL, r.event = 'agent_deleted'));
        v_told := true;
    END LOOP;
    IF NOT v_told AND EXISTS (SELECT 1 FROM added) THEN
        PERFORM pg_notify('ams_outbox', '');
    END IF;
    RETURN NULL;
END
$function$;

-- Numbers the committed events not yet numbered (the counter's row lock keeps one sequencer at a
-- time) and answers the rows it sequenced, so that the leader hands them to its sinks without reading them back.
CREATE OR REPLACE FUNCTION ams_sequence_outbox_events(p_limit integer)
 RETURNS TABLE(sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text, data text, created_at timestamp with time zone, traceparent text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v_last bigint;
    v_count integer;
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    SELECT c.last INTO v_last FROM outbox_counter c FOR UPDATE;
    RETURN QUERY
    WITH next AS (
        SELECT o.id, v_last + row_number() OVER (ORDER BY o.id) AS n FROM outbox o WHERE o.sequence IS NULL ORDER BY o.id LIMIT p_limit
    )
    UPDATE outbox o SET sequence = next.n FROM next WHERE o.id = next.id
    RETURNING o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at, o.traceparent;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count > 0 THEN
        UPDATE outbox_counter SET last = v_last + v_count;
        PERFORM pg_notify('ams_events', (v_last + v_count)::text);
    END IF;
    PERFORM set_config('app.notifier', 'off', true);
END
$function$;

-- Every tenant's events after a sequence, in order.
CREATE OR REPLACE FUNCTION ams_outbox_after(p_after bigint, p_limit integer)
 RETURNS TABLE(sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text, data text, created_at timestamp with time zone, traceparent text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    RETURN QUERY SELECT o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at,
            o.traceparent
        FROM outbox o WHERE o.sequence > p_after ORDER BY o.sequence LIMIT p_limit;
    PERFORM set_config('app.notifier', 'off', true);
END
$function$;

-- Sequenced events older than the retention (at least an hour, whatever the caller asks) go, a
-- batch at a time in sequence order, and only those before the first one within it: a row that
-- committed late is young at a sequence past older ones, and an endpoint told it lost events up to
-- a sequence must have lost every one before it. None goes that a shared sink has yet to deliver
-- (unless the sink has not moved for the whole retention), nor any of its tenant's that an active
-- webhook endpoint has yet to get, while it is served: due (made, resumed, or waiting for a retry)
-- or attempted within the retention. An endpoint that loses events (disabled, or served by no
-- replica) has the newest it lost recorded, to be told. The counter is locked first, in the
-- sequencer's order, then the endpoints, in the claim's.
CREATE OR REPLACE FUNCTION ams_purge_outbox(p_retention interval, p_batch integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
    v_retention interval := greatest(p_retention, interval '1 hour');
    v_through bigint;
    v_count integer;
    v_kept bigint;
    v_young bigint;
    v_tenants text[];
    v_throughs bigint[];
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    PERFORM 1 FROM outbox_counter FOR UPDATE;
    SELECT min(delivered) INTO v_kept FROM outbox_sinks WHERE updated_at > now() - v_retention;
    SELECT o.sequence INTO v_young FROM outbox o WHERE o.sequence IS NOT NULL AND o.created_at >= now() - v_retention
        ORDER BY o.sequence LIMIT 1;
    WITH held AS MATERIALIZED (
        SELECT w.tenant_id, min(w.delivered) AS delivered FROM webhooks w
        WHERE w.status = 'active' AND (w.next_attempt_at > now() - v_retention OR w.updated_at > now() - v_retention
            OR (SELECT d.attempted_at FROM webhook_deliveries d WHERE d.tenant_id = w.tenant_id AND d.webhook_id = w.id
                ORDER BY d.seq DESC LIMIT 1) > now() - v_retention)
        GROUP BY w.tenant_id
    ), gone AS (
        DELETE FROM outbox WHERE id IN (
            SELECT o.id FROM outbox o
            WHERE o.sequence IS NOT NULL AND o.sequence < coalesce(v_young, o.sequence + 1) AND o.sequence <= coalesce(v_kept, o.sequence)
              AND NOT EXISTS (SELECT 1 FROM held h WHERE h.tenant_id = o.tenant_id AND h.delivered < o.sequence)
            ORDER BY o.sequence LIMIT p_batch)
        RETURNING tenant_id, sequence
    ), per_tenant AS (
        SELECT gone.tenant_id, max(gone.sequence) AS through, count(*) AS n FROM gone GROUP BY gone.tenant_id
    )
    SELECT array_agg(t.tenant_id ORDER BY t.tenant_id), array_agg(t.through ORDER BY t.tenant_id), max(t.through), coalesce(sum(t.n), 0)
    INTO v_tenants, v_throughs, v_through, v_count
    FROM per_tenant t;
    IF v_count > 0 THEN
        PERFORM 1 FROM webhooks w WHERE w.tenant_id = ANY (v_tenants) ORDER BY w.tenant_id, w.id FOR UPDATE;
        UPDATE webhooks w SET missed_through = g.through
        FROM unnest(v_tenants, v_throughs) AS g(tenant_id, through)
        WHERE w.tenant_id = g.tenant_id AND w.delivered < g.through AND w.missed_through < g.through;
        UPDATE outbox_counter SET purged_through = greatest(purged_through, v_through);
    END IF;
    RETURN v_count;
END
$function$;

CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ams_outbox_notify();

DROP POLICY IF EXISTS tenant_isolation ON outbox;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Cross-tenant rows are for the tables' owner only (TO CURRENT_USER names the role installing the policy), in the
-- SECURITY DEFINER functions doing that work: a role of the service that sets the same setting sees nothing more.
DROP POLICY IF EXISTS notifier ON outbox;
CREATE POLICY notifier ON outbox TO CURRENT_USER
    USING (current_setting('app.notifier', true) = 'on')
    WITH CHECK (current_setting('app.notifier', true) = 'on');
