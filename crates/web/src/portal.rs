//! What the merchant and partner portals' pages share: the login form, the session cookie,
//! logging out, failures, and CSV downloads with the user's session.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::{ApiProblem, Call, Caller};
use crate::browser::{self, Browser};
use crate::pages::{Frame, html};
use crate::text::Text;

/// One portal: its cookie, its API and its pages.
pub struct Portal {
    pub cookie: &'static str,
    /// The API's prefix (`/merchant/v1`, `/partner-portal/v1`).
    pub api: &'static str,
    /// The pages' home (`/merchant`, `/partner`).
    pub home: &'static str,
    pub title: fn(&Text) -> &'static str,
}

pub const MERCHANT: Portal = Portal {
    cookie: browser::MERCHANT_COOKIE,
    api: "/merchant/v1",
    home: "/merchant",
    title: |t| t.merchant_portal,
};

pub const PARTNER: Portal = Portal {
    cookie: browser::PARTNER_COOKIE,
    api: "/partner-portal/v1",
    home: "/partner",
    title: |t| t.partner_portal,
};

impl Portal {
    /// The browser's session of this portal, if any.
    pub fn token(&self, browser: &Browser) -> Option<String> {
        match self.cookie {
            browser::MERCHANT_COOKIE => browser.merchant.clone(),
            _ => browser.partner.clone(),
        }
    }

    pub fn caller(&self, browser: &Browser) -> Caller {
        Caller {
            peer: browser.peer,
            bearer: self.token(browser),
        }
    }

    /// The portal's frame: its home, its logout, its sections (`nav`).
    pub fn frame(&self, state: &WebState, browser: &Browser, title: &str) -> Frame {
        let mut frame = Frame::new(state, browser, title);
        frame.home = self.home;
        frame.logout = self.token(browser).map(|_| self.logout_path());
        frame.nav_class = "sections";
        frame
    }

    fn login_path(&self) -> &'static str {
        match self.cookie {
            browser::MERCHANT_COOKIE => "/merchant/login",
            _ => "/partner/login",
        }
    }

    fn logout_path(&self) -> &'static str {
        match self.cookie {
            browser::MERCHANT_COOKIE => "/merchant/logout",
            _ => "/partner/logout",
        }
    }

    /// To the login page (forgetting the session) when there is none or the API no longer
    /// takes it; else the API's problem in the portal's frame.
    pub fn failure(&self, state: &WebState, browser: &Browser, problem: ApiProblem) -> Response {
        let signed_out = problem.status == StatusCode::UNAUTHORIZED.as_u16();
        if self.token(browser).is_none() || signed_out {
            return self.to_login();
        }
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let title = (self.title)(browser.lang.text());
        let frame = self
            .frame(state, browser, title)
            .error(Some(problem.message()));
        (status, html(&Refused { frame })).into_response()
    }

    fn to_login(&self) -> Response {
        let mut response = Redirect::to(self.login_path()).into_response();
        browser::set(&mut response, &browser::removal(self.cookie));
        response
    }

    /// The login form, with the login typed and an error.
    pub fn login_form(
        &self,
        state: &WebState,
        browser: &Browser,
        login: String,
        error: Option<String>,
    ) -> Response {
        let title = (self.title)(browser.lang.text());
        let mut frame = self.frame(state, browser, title).error(error);
        frame.logout = None;
        html(&LoginPage {
            frame,
            action: self.login_path(),
            login,
        })
    }

    /// A session from the API, kept in the portal's cookie; or the form again.
    pub async fn log_in(&self, state: &WebState, browser: &Browser, form: LoginForm) -> Response {
        let body = json!({ "login": form.login, "password": form.password });
        let call = Call::post(format!("{}/sessions", self.api), &body);
        match state
            .api
            .json::<SessionAnswer>(&browser.anonymous(), call)
            .await
        {
            Ok(session) => {
                let mut response = Redirect::to(self.home).into_response();
                let cookie =
                    browser::host_cookie(self.cookie, session.token, cookie::SameSite::Strict);
                browser::set(&mut response, &cookie);
                response
            }
            Err(problem) => self.login_form(state, browser, form.login, Some(problem.message())),
        }
    }

    /// Ends the session at the API and forgets it.
    pub async fn log_out(&self, state: &WebState, browser: &Browser) -> Response {
        if self.token(browser).is_some() {
            let call = Call::delete(format!("{}/sessions/current", self.api));
            // Gone already or not: the cookie goes either way.
            let _ = state.api.send(&self.caller(browser), call).await;
        }
        self.to_login()
    }

    /// `{api}{path}` downloaded as `file_name` with the user's session.
    pub async fn csv(
        &self,
        state: &WebState,
        browser: &Browser,
        path: &str,
        disposition: &'static str,
    ) -> Response {
        let call = Call::get(format!("{}{path}", self.api));
        let answer = match state.api.send(&self.caller(browser), call).await {
            Ok(answer) => answer,
            Err(problem) => return self.failure(state, browser, problem),
        };
        crate::pages::csv_download(answer.body, disposition)
    }
}

#[derive(Template)]
#[template(path = "portal_login.html")]
struct LoginPage {
    frame: Frame,
    action: &'static str,
    login: String,
}

#[derive(Template)]
#[template(path = "console_refused.html")]
struct Refused {
    frame: Frame,
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    token: String,
}
