-- An image an admin chose for an event (performers have had `image_url`
-- since the catalog began). Without one, the api draws a poster from the
-- title and genre at request time (`GET /v1/events/{id}/image`).
-- Only https URLs, at most 2000 characters: the pages load them from
-- another origin, so plain http would be mixed content.
alter table events add column image_url text
    check (image_url is null or (image_url like 'https://%' and char_length(image_url) <= 2000));

-- The same rule for performers' new writes; rows stored before it stay as
-- they were (`not valid`), and the api still serves them.
alter table performers add constraint performers_image_url_https
    check (image_url is null or (image_url like 'https://%' and char_length(image_url) <= 2000)) not valid;
