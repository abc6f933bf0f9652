-- Events and the outbox: each committed change writes its event in its transaction; the notifier sequences and announces them.
-- The current definitions, applied after the numbered history (see SchemaDefinitions.swift).

-- Retired: sequencing without returning the events (ams_sequence_outbox_events replaced it).
DROP FUNCTION IF EXISTS ams_sequence_outbox(integer);

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

-- Status changes and validations name the agent too, as the orchestrator's tenant channel wants.
CREATE OR REPLACE FUNCTION ams_history_event()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_name text;
    v_type text;
    v_status text;
    v_validation jsonb;
    v_event text;
    v_data jsonb;
    v_task uuid;
    v_global text;
BEGIN
    SELECT name, type, status, validation INTO v_name, v_type, v_status, v_validation FROM agents WHERE id = NEW.agent_id;
    CASE NEW.action
        WHEN 'created' THEN
            v_event := 'agent_created';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'agent_type', v_type,
                'version', NEW.version, 'status', v_status);
        WHEN 'updated', 'rolled_back' THEN
            v_event := 'agent_updated';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'version', NEW.version,
                'changes', coalesce(NEW.changes,
                    (SELECT changes FROM agent_versions WHERE agent_id = NEW.agent_id AND version = NEW.version), '[]'));
        WHEN 'status_changed' THEN
            v_event := 'agent_status_changed';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'from', NEW.details -> 'from',
                'to', NEW.details -> 'to', 'reason', NEW.details -> 'reason');
        WHEN 'deleted' THEN
            v_event := 'agent_deleted';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
        WHEN 'restored' THEN
            v_event := 'agent_restored';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name);
        WHEN 'validated' THEN
            v_event := 'agent_validated';
            v_data := jsonb_build_object('agent_id', NEW.agent_id, 'agent_name', v_name, 'version', NEW.version,
                'status', v_validation -> 'status', 'issues', coalesce(v_validation -> 'issues', '[]'));
        ELSE
            RETURN NULL;
    END CASE;
    IF NEW.request_id ~ '^task:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        v_task := substr(NEW.request_id, 6)::uuid;
        SELECT message ->> 'global_task_id' INTO v_global FROM tasks WHERE tenant_id = NEW.tenant_id AND id = v_task;
    END IF;
    INSERT INTO outbox (tenant_id, event, agent_id, task_id, global_task_id, data)
    VALUES (NEW.tenant_id, v_event, NEW.agent_id, v_task, v_global, v_data);
    RETURN NULL;
END
$function$;

-- Numbers the committed events not yet numbered (the counter's row lock keeps one sequencer at a
-- time) and answers the rows it sequenced, so that the leader hands them to its sinks without reading them back.
CREATE OR REPLACE FUNCTION ams_sequence_outbox_events(p_limit integer)
 RETURNS TABLE(sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text, data text, created_at timestamp with time zone)
 LANGUAGE plpgsql
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
    RETURNING o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at;
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
 RETURNS TABLE(sequence bigint, event_id uuid, tenant_id text, event text, agent_id uuid, task_id uuid, global_task_id text, data text, created_at timestamp with time zone)
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    RETURN QUERY SELECT o.sequence, o.event_id, o.tenant_id, o.event, o.agent_id, o.task_id, o.global_task_id, o.data::text, o.created_at
        FROM outbox o WHERE o.sequence > p_after ORDER BY o.sequence LIMIT p_limit;
    PERFORM set_config('app.notifier', 'off', true);
END
$function$;

-- Sequenced events older than the retention go, oldest first, a batch at a time, but none a
-- shared sink has yet to deliver (unless the sink has not moved for the whole retention).
-- The counter is locked first, in the sequencer's order.
CREATE OR REPLACE FUNCTION ams_purge_outbox(p_retention interval, p_batch integer)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    v_through bigint;
    v_count integer;
    v_kept bigint;
BEGIN
    PERFORM set_config('app.notifier', 'on', true);
    PERFORM 1 FROM outbox_counter FOR UPDATE;
    SELECT min(delivered) INTO v_kept FROM outbox_sinks WHERE updated_at > now() - p_retention;
    WITH gone AS (
        DELETE FROM outbox WHERE id IN (
            SELECT id FROM outbox
            WHERE created_at < now() - p_retention AND sequence IS NOT NULL AND sequence <= coalesce(v_kept, sequence)
            ORDER BY created_at LIMIT p_batch)
        RETURNING sequence
    )
    SELECT max(sequence), count(*) INTO v_through, v_count FROM gone;
    IF v_count > 0 THEN
        UPDATE outbox_counter SET purged_through = greatest(purged_through, v_through);
    END IF;
    RETURN v_count;
END
$function$;

CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ams_outbox_notify();

CREATE OR REPLACE TRIGGER agent_history_event AFTER INSERT ON agent_history FOR EACH ROW EXECUTE FUNCTION ams_history_event();

DROP POLICY IF EXISTS tenant_isolation ON outbox;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

DROP POLICY IF EXISTS notifier ON outbox;
CREATE POLICY notifier ON outbox
    USING (current_setting('app.notifier', true) = 'on')
    WITH CHECK (current_setting('app.notifier', true) = 'on');
