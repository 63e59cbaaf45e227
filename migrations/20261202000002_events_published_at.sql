-- An event becomes public when it first leaves `draft`, and stays public
-- from then on (a cancelled event still has a page, for its ticket holders).
-- A draft cancelled before it was ever published stays private. A row
-- inserted as anything but a draft (the API inserts only `draft` or
-- `scheduled`; loaders may insert history) counts as published.
alter table events add column published_at timestamptz;
update events set published_at = created_at where status <> 'draft';

create function set_published_at() returns trigger language plpgsql as $$
begin
    if new.published_at is null
       and (new.status in ('scheduled', 'completed')
            or (tg_op = 'INSERT' and new.status <> 'draft')) then
        new.published_at := now();
    end if;
    return new;
end
$$;
create trigger events_published_at before insert or update of status on events
    for each row execute function set_published_at();
