// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MVC} from "./MVC.sol";

/// @title Quarterly rewards to MVC holders (seed 000, section 5-7; MV-10)
/// @notice At each quarter end, holders may claim, pro rata to their balance at the
/// quarter-end instant, 0.5% of the Sale allocation: 4,500,000 MVC per quarter.
///
/// - A funder (REWARDS_ROLE) opens a quarter after it ended: `fund(end)` pulls the pool from
///   the funder (who approved it) and fixes the eligible supply: the total supply at `end`
///   minus the balances at `end` of the excluded addresses (treasury, vesting wallets, this
///   contract). The exclusion list can change at any time; each quarter keeps the list it
///   was funded with (`excludedIn`), for its eligible supply and its claims alike.
/// - A holder claims once per quarter: `pool * balanceAt(holder, end) / eligibleSupply`,
///   rounded down. Rounding down makes the sum of all claims at most the pool; the dust
///   left over stays in this contract (it can be swept back to the funder with `sweep` once
///   the claim window is over).
contract RewardDistributor is AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant REWARDS_ROLE = keccak256("REWARDS_ROLE");
    /// @notice 0.5% of the Sale allocation (30% of 3,000,000,000 MVC).
    uint256 public constant POOL_PER_QUARTER = 4_500_000 ether;
    /// @notice Most excluded addresses (bounded loop at funding).
    uint256 public constant EXCLUDED_MAX = 64;
    /// @notice Holders may claim for this long after a quarter was funded.
    uint256 public constant CLAIM_WINDOW = 365 days;

    struct Quarter {
        uint64 end;
        uint64 fundedAt;
        uint256 eligibleSupply;
        uint256 claimed;
    }

    MVC public immutable token;
    address[] private _excluded;
    mapping(address account => bool) public isExcluded;
    Quarter[] private _quarters;
    mapping(uint256 quarter => mapping(address holder => bool)) public hasClaimed;
    /// @notice The exclusion list as it was when each quarter was funded. Claims must follow
    /// the list that fixed the eligible supply: a change for later quarters must not let an
    /// address excluded from the supply claim (the claims could then exceed the pool and the
    /// last holders could not claim), nor take an included holder's share away.
    mapping(uint256 quarter => mapping(address account => bool)) public excludedIn;

    event ExclusionSet(address indexed account, bool excluded);
    event QuarterFunded(uint256 indexed quarter, uint64 end, uint256 eligibleSupply);
    event Claimed(uint256 indexed quarter, address indexed holder, uint256 amount);
    event Swept(uint256 indexed quarter, address indexed to, uint256 amount);

    error QuarterNotOver(uint64 end);
    error QuartersOutOfOrder(uint64 end, uint64 previousEnd);
    error UnknownQuarter(uint256 quarter);
    error AlreadyClaimed(uint256 quarter, address holder);
    error NotEligible(address holder);
    error NothingToClaim(uint256 quarter, address holder);
    error TooManyExcluded();
    error ClaimWindowOpen(uint256 quarter);
    error ClaimWindowClosed(uint256 quarter);
    error NoEligibleSupply();

    constructor(MVC token_, address admin, address[] memory excludedAtStart) {
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REWARDS_ROLE, admin);
        _setExcluded(address(this), true);
        for (uint256 i = 0; i < excludedAtStart.length; i++) {
            _setExcluded(excludedAtStart[i], true);
        }
    }

    function setExcluded(address account, bool excluded) external onlyRole(DEFAULT_ADMIN_ROLE) {
        require(account != address(this), "the distributor is always excluded");
        _setExcluded(account, excluded);
    }

    function _setExcluded(address account, bool excluded) private {
        if (isExcluded[account] == excluded) return;
        isExcluded[account] = excluded;
        if (excluded) {
            if (_excluded.length >= EXCLUDED_MAX) revert TooManyExcluded();
            _excluded.push(account);
        } else {
            for (uint256 i = 0; i < _excluded.length; i++) {
                if (_excluded[i] == account) {
                    _excluded[i] = _excluded[_excluded.length - 1];
                    _excluded.pop();
                    break;
                }
            }
        }
        emit ExclusionSet(account, excluded);
    }

    function excludedAccounts() external view returns (address[] memory) {
        return _excluded;
    }

    /// @notice Opens the quarter that ended at `end` (Unix seconds, in the past and after the
    /// previous quarter's end) and pulls its pool from the caller.
    function fund(uint64 end) external onlyRole(REWARDS_ROLE) returns (uint256 quarter) {
        if (end >= block.timestamp) revert QuarterNotOver(end);
        if (_quarters.length > 0) {
            uint64 previous = _quarters[_quarters.length - 1].end;
            if (end <= previous) revert QuartersOutOfOrder(end, previous);
        }
        quarter = _quarters.length;
        uint256 eligible = token.totalSupplyAt(end);
        for (uint256 i = 0; i < _excluded.length; i++) {
            eligible -= token.balanceAt(_excluded[i], end);
            excludedIn[quarter][_excluded[i]] = true;
        }
        if (eligible == 0) revert NoEligibleSupply();
        _quarters.push(Quarter({end: end, fundedAt: uint64(block.timestamp), eligibleSupply: eligible, claimed: 0}));
        IERC20(address(token)).safeTransferFrom(msg.sender, address(this), POOL_PER_QUARTER);
        emit QuarterFunded(quarter, end, eligible);
    }

    /// @notice What `holder` may claim for `quarter` (0 if claimed, excluded from that quarter
    /// or past its claim window).
    function claimable(uint256 quarter, address holder) public view returns (uint256) {
        if (quarter >= _quarters.length) revert UnknownQuarter(quarter);
        Quarter storage q = _quarters[quarter];
        if (hasClaimed[quarter][holder] || excludedIn[quarter][holder] || _windowOver(q)) return 0;
        return (POOL_PER_QUARTER * token.balanceAt(holder, q.end)) / q.eligibleSupply;
    }

    /// @notice Claims the caller's reward for `quarter`.
    function claim(uint256 quarter) external returns (uint256 amount) {
        if (quarter >= _quarters.length) revert UnknownQuarter(quarter);
        Quarter storage q = _quarters[quarter];
        // Past the window the rest may have been swept: a claim then would break the pool's
        // accounting (and hit the assert below) instead of failing with a reason.
        if (_windowOver(q)) revert ClaimWindowClosed(quarter);
        if (hasClaimed[quarter][msg.sender]) revert AlreadyClaimed(quarter, msg.sender);
        if (excludedIn[quarter][msg.sender]) revert NotEligible(msg.sender);
        amount = claimable(quarter, msg.sender);
        if (amount == 0) revert NothingToClaim(quarter, msg.sender);
        hasClaimed[quarter][msg.sender] = true;
        q.claimed += amount;
        // Floor rounding keeps every sum of claims within the pool; assert it anyway.
        assert(q.claimed <= POOL_PER_QUARTER);
        IERC20(address(token)).safeTransfer(msg.sender, amount);
        emit Claimed(quarter, msg.sender, amount);
    }

    /// @notice After the claim window, returns what was not claimed to `to`.
    function sweep(uint256 quarter, address to) external onlyRole(REWARDS_ROLE) {
        if (quarter >= _quarters.length) revert UnknownQuarter(quarter);
        Quarter storage q = _quarters[quarter];
        if (!_windowOver(q)) revert ClaimWindowOpen(quarter);
        uint256 rest = POOL_PER_QUARTER - q.claimed;
        q.claimed = POOL_PER_QUARTER;
        IERC20(address(token)).safeTransfer(to, rest);
        emit Swept(quarter, to, rest);
    }

    /// @dev The claim window closes `CLAIM_WINDOW` after funding; sweeping opens then.
    function _windowOver(Quarter storage q) private view returns (bool) {
        return block.timestamp >= q.fundedAt + CLAIM_WINDOW;
    }

    function quarterCount() external view returns (uint256) {
        return _quarters.length;
    }

    function quarterOf(uint256 quarter) external view returns (Quarter memory) {
        if (quarter >= _quarters.length) revert UnknownQuarter(quarter);
        return _quarters[quarter];
    }
}
