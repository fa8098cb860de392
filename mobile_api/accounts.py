"""Accounts: sign-up, login, token refresh, the caller, and admin role grants."""
from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from backend import keys
from backend.accounts import services
from backend.accounts.models import (
    AuthResponse,
    OrganisationCreate,
    OrganisationPublic,
    RefreshRequest,
    RoleGrant,
    TokenPair,
    User,
    UserLogin,
    UserPublic,
    UserRegister,
)
from backend.db import get_session
from backend.exceptions import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthenticated
from backend.i18n import current_language, pick
from backend.ratelimit import configured, limiter, login_account
from mobile_api.http import BEARER, json_response, require_principal
from mobile_api.openapi import operation

bp = APIBlueprint("accounts", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="accounts", description="Sign-up, login and tokens, the caller, the timeline, and admin grants.")])


class UserPath(BaseModel):
    user_id: int


def _token_settings() -> dict:
    config = current_app.config
    return {"keys": keys.ring(config, keys.ACCESS_TOKEN), "access_ttl_s": config["ACCESS_TOKEN_TTL_S"],
            "refresh_ttl_s": config["REFRESH_TOKEN_TTL_S"]}


def _signed_in(user: User, status: int):
    session = get_session()
    tokens = services.issue_tokens(session, user_id=user.id, **_token_settings())
    body = AuthResponse(**tokens.model_dump(), user=services.user_public(session, user, language=current_language()))
    return json_response(body, status)


@bp.post("/auth/register", **operation(
    "registerUser", {201: AuthResponse}, raises=(Conflict, TooManyRequests),
    example={"email": "li.wei@example.cn", "password": "Chongqing-2026!", "name": "李伟", "phone": "+8613800000000"}))
@limiter.limit(configured("REGISTER_RATE_LIMIT"))
def register(body: UserRegister):
    """Create a citizen account and sign it in."""
    user = services.register_user(get_session(), email=body.email, password=body.password,
                                  name=body.name, phone=body.phone)
    return _signed_in(user, 201)


@bp.post("/auth/login", **operation(
    "logIn", {200: AuthResponse}, raises=(Unauthenticated, TooManyRequests),
    example={"email": "citizen@demo.cq", "password": "Chongqing-demo-2026"}))
@limiter.limit(configured("LOGIN_RATE_LIMIT"))
@limiter.limit(configured("LOGIN_ACCOUNT_RATE_LIMIT"), key_func=login_account)
def login(body: UserLogin):
    """Sign in with email and password."""
    user = services.authenticate(get_session(), email=body.email, password=body.password)
    return _signed_in(user, 200)


@bp.post("/auth/refresh", **operation(
    "refreshTokens", {200: TokenPair}, raises=(Unauthenticated,),
    example={"refresh_token": "r1.kG8s0nQ2b1x7Vd3Yw5Lz"}))
def refresh(body: RefreshRequest):
    """Trade a refresh token for a new pair (each refresh token works once)."""
    tokens = services.rotate_refresh_token(get_session(), refresh_token=body.refresh_token,
                                           **_token_settings())
    return json_response(tokens)


@bp.get("/me", **operation("getMe", {200: UserPublic}), security=BEARER)
def me():
    """Return the caller with roles and organisations."""
    principal = require_principal()
    session = get_session()
    user = session.get(User, principal.user_id)
    if user is None:
        raise Unauthenticated("invalid_token", "The account no longer exists.")
    return json_response(services.user_public(session, user, language=current_language()))


@bp.post("/admin/organisations", security=BEARER, **operation(
    "createOrganisation", {201: OrganisationPublic}, raises=(Forbidden, Conflict),
    example={"slug": "cq-robotaxi", "kind": "fleet_operator", "name_zh": "重庆无人驾驶出租车",
             "name_en": "Chongqing Robotaxi"}))
def create_organisation(body: OrganisationCreate):
    """Create an organisation (admin)."""
    require_principal("admin")
    org = services.create_organisation(get_session(), **body.model_dump())
    return json_response(OrganisationPublic(id=org.id, slug=org.slug, kind=org.kind,
                                            name=pick(org.name_zh, org.name_en, current_language())), 201)


@bp.post("/admin/users/<int:user_id>/roles", security=BEARER, **operation(
    "grantRole", {200: UserPublic}, raises=(Forbidden, NotFound, Invalid),
    example={"role": "operator", "organisation_id": 1}))
def grant_role(path: UserPath, body: RoleGrant):
    """Grant a role to a user (admin); staff roles join the given organisation."""
    require_principal("admin")
    session = get_session()
    services.grant_role(session, user_id=path.user_id, role=body.role,
                        organisation_id=body.organisation_id)
    return json_response(services.user_public(session, session.get_one(User, path.user_id),
                                              language=current_language()))
