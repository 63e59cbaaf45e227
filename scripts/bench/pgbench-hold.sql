-- Reference for the hold path: Postgres alone holding 2 seats per
-- transaction for one buyer, FOR UPDATE SKIP LOCKED, one transaction per
-- hold. Each transaction starts its scan at a random seat, as buyers pick
-- seats all over the map (and as the HTTP run's buyers do); starting every
-- scan at the first seat would pile all clients onto the same index range.
-- Variables: :event, :user (a user id, quoted), :min_seat, :max_seat.
\set start random(:min_seat, :max_seat)
BEGIN;
INSERT INTO bookings (user_id, event_id, status, currency, expires_at)
VALUES (:user::uuid, :event, 'payment_pending', 'GBP', now() + interval '10 minutes')
RETURNING booking_id \gset
UPDATE event_seats es
   SET status = 'held', booking_id = ':booking_id'::uuid, held_until = now() + interval '10 minutes'
  FROM (SELECT seat_id FROM event_seats
         WHERE event_id = :event AND seat_id >= :start AND status = 'available'
         ORDER BY seat_id LIMIT 2 FOR UPDATE SKIP LOCKED) s
 WHERE es.event_id = :event AND es.seat_id = s.seat_id;
COMMIT;
