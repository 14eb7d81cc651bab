//! `GET /api/v1/backup`: a consistent copy of the data file, streamed, so
//! `hookline backup DEST` works while the daemon runs (redb lets only one
//! process open the file).

use std::io::Read as _;

use actix_web::{web, HttpResponse};

use super::error::{ApiError, ErrorBody};
use super::extract::Admin;
use super::AppState;

/// Bytes read from the snapshot per chunk of the answer.
const CHUNK: usize = 1024 * 1024;

/// A redb file holding everything as of one moment.
#[utoipa::path(get, operation_id = "getBackup", path = "/api/v1/backup", tag = "operations",
    responses((status = 200, description = "the data file (application/octet-stream)"), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn backup(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let file = web::block(move || -> Result<std::fs::File, String> {
        let scratch = store.backup_scratch_path();
        let made = store.backup_to(&scratch).map_err(|e| e.to_string());
        let opened = made.and_then(|()| std::fs::File::open(&scratch).map_err(|e| e.to_string()));
        // Unlinked at once: the open handle keeps the bytes until sent.
        let _ = std::fs::remove_file(&scratch);
        opened
    })
    .await
    .map_err(|_| ApiError::unavailable("backup interrupted"))?
    .map_err(|e| ApiError::unavailable(format!("backup failed: {e}")))?;
    tracing::info!("backup snapshot taken; streaming");
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buf = vec![0; CHUNK];
            file.read(&mut buf).map(|n| {
                buf.truncate(n);
                (file, buf)
            })
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((file, buf))) => Some((Ok(web::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .streaming(chunks))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/backup", "GET").route(web::get().to(backup)));
}
