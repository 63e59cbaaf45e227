-- Seats per section, kept by statement-level triggers on seats (a seat map
-- upload or a COPY of a million seats fires them once, not per row). The
-- indexer's documents need "every seat of the priced sections is left"
-- for events whose inventory is not open yet; counting seats per render
-- was most of its cost.
alter table venue_sections add column seat_count integer not null default 0
    check (seat_count >= 0);

update venue_sections s set seat_count = c.n
  from (select r.section_id, count(*) as n
          from seats st join venue_rows r using (row_id)
         group by r.section_id) c
 where c.section_id = s.section_id;

create function seats_count_inserted() returns trigger
language plpgsql as $$
begin
    update venue_sections s set seat_count = s.seat_count + c.n
      from (select r.section_id, count(*) as n
              from inserted i join venue_rows r using (row_id)
             group by r.section_id) c
     where c.section_id = s.section_id;
    return null;
end;
$$;

create function seats_count_deleted() returns trigger
language plpgsql as $$
begin
    -- Rows of sections deleted by the same statement (a cascade) are gone
    -- already; the join skips them.
    update venue_sections s set seat_count = s.seat_count - c.n
      from (select r.section_id, count(*) as n
              from deleted d join venue_rows r using (row_id)
             group by r.section_id) c
     where c.section_id = s.section_id;
    return null;
end;
$$;

create trigger seats_count_insert after insert on seats
    referencing new table as inserted
    for each statement execute function seats_count_inserted();
create trigger seats_count_delete after delete on seats
    referencing old table as deleted
    for each statement execute function seats_count_deleted();

-- A seat moving to another row (rare; never done by the application).
create function seats_count_moved() returns trigger
language plpgsql as $$
begin
    if new.row_id is distinct from old.row_id then
        update venue_sections s set seat_count = seat_count - 1
          from venue_rows r where r.row_id = old.row_id and s.section_id = r.section_id;
        update venue_sections s set seat_count = seat_count + 1
          from venue_rows r where r.row_id = new.row_id and s.section_id = r.section_id;
    end if;
    return null;
end;
$$;
create trigger seats_count_move after update of row_id on seats
    for each row execute function seats_count_moved();
